/*
 * tmem_register.c — registering the TMEM commands with Redis: names,
 * handlers, flags, key positions, and (Redis >= 7.0) arity, key-spec flags
 * and the summaries COMMAND DOCS shows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmem_cmd.h"
#include "tmem_conn.h"

/* ---- registration ---- */

struct tcmd_def {
	const char *name;
	RedisModuleCmdFunc fn;
	const char *flags;
	int first, last, step; /* legacy key positions, for every Redis */
	int arity;             /* with the command name; -N: at least N */
	uint64_t kflags;       /* key-spec flags; 0: the command takes no key */
	const char *summary, *complexity;
};

/*
 * Values live in utmemd, not in Redis memory, so no command is "deny-oom";
 * "write" commands are refused on read-only replicas, and nothing is
 * replicated (the pool is the host's, not the dataset's). Key-spec flags
 * say what each command does to its keys, for ACL read/write selectors.
 */
static const struct tcmd_def tcmd_defs[] = {
	{ "tmem.put", tcmd_put, "write", 1, 1, 1, 3,
	  RM_KEY_OW | RM_KEY_UPDATE,
	  "Store a value in the utmemd pool, replacing any old one",
	  "O(N) where N is the value's size" },
	{ "tmemput", tcmd_put, "write", 1, 1, 1, 3, RM_KEY_OW | RM_KEY_UPDATE,
	  "Alias of TMEM.PUT (the thesis's name)",
	  "O(N) where N is the value's size" },
	{ "tmem.get", tcmd_get, "readonly fast", 1, 1, 1, 2,
	  RM_KEY_RO | RM_KEY_ACCESS, "Get a value from the utmemd pool",
	  "O(N) where N is the value's size" },
	{ "tmemget", tcmd_get, "readonly fast", 1, 1, 1, 2,
	  RM_KEY_RO | RM_KEY_ACCESS, "Alias of TMEM.GET (the thesis's name)",
	  "O(N) where N is the value's size" },
	{ "tmem.pop", tcmd_pop, "write fast", 1, 1, 1, 2,
	  RM_KEY_RW | RM_KEY_ACCESS | RM_KEY_DELETE,
	  "Get a value and remove it from the utmemd pool in one step",
	  "O(N) where N is the value's size" },
	{ "tmem.del", tcmd_del, "write", 1, -1, 1, -2,
	  RM_KEY_RM | RM_KEY_DELETE,
	  "Remove keys from the utmemd pool; returns how many existed",
	  "O(N) where N is the number of keys" },
	{ "tmem.exists", tcmd_exists, "readonly fast", 1, -1, 1, -2, RM_KEY_RO,
	  "Count the keys that hold a value, without transferring it",
	  "O(N) where N is the number of keys" },
	{ "tmem.mput", tcmd_mput, "write", 1, -1, 2, -3,
	  RM_KEY_OW | RM_KEY_UPDATE,
	  "Store several values in the utmemd pool in pipelined batches",
	  "O(N) where N is the total size of the values" },
	{ "tmem.mget", tcmd_mget, "readonly fast", 1, -1, 1, -2,
	  RM_KEY_RO | RM_KEY_ACCESS,
	  "Get several values from the utmemd pool in pipelined batches",
	  "O(N) where N is the total size of the values" },
	{ "tmem.info", tcmd_info, "readonly fast allow-loading allow-stale", 0,
	  0, 0, 1, 0,
	  "Link to utmemd, configuration, module and utmemd counters",
	  "O(1)" },
};

#define TCMD_NDEFS (sizeof(tcmd_defs) / sizeof(tcmd_defs[0]))

/* Redis may keep pointers into these, so they live as long as the module. */
static struct rm_keyspec tcmd_kspecs[TCMD_NDEFS][2];
static const struct rm_cmdinfo_version tcmd_info_v1 = {
	.version = 1,
	.sizeof_historyentry = sizeof(struct rm_cmd_history),
	.sizeof_keyspec = sizeof(struct rm_keyspec),
	.sizeof_arg = sizeof(struct rm_cmd_arg),
};

/*
 * Give command i its arity, key-spec flags and summary (Redis >= 7.0).
 * Only metadata: the command works without it, so a refusal is logged and
 * otherwise ignored.
 */
static void tcmd_set_info(RedisModuleCtx *ctx, size_t i)
{
	const struct tcmd_def *d = &tcmd_defs[i];
	struct rm_keyspec *ks = tcmd_kspecs[i];
	struct rm_cmdinfo info = {
		.version = &tcmd_info_v1,
		.summary = d->summary,
		.complexity = d->complexity,
		.since = UTMEM_VERSION_STRING,
		.arity = d->arity,
	};
	RedisModuleCommand *cmd;

	if (rm.GetCommand == NULL || rm.SetCommandInfo == NULL)
		return;
	cmd = rm.GetCommand(ctx, d->name);
	if (cmd == NULL)
		return;
	if (d->kflags != 0) {
		memset(ks, 0, 2 * sizeof(*ks));
		ks[0].flags = d->kflags;
		ks[0].begin_search_type = RM_KSPEC_BS_INDEX;
		ks[0].bs.index.pos = d->first;
		ks[0].find_keys_type = RM_KSPEC_FK_RANGE;
		/* Relative to the first key; negative counts from the end. */
		ks[0].fk.range.lastkey = d->last < 0 ? d->last : d->last - d->first;
		ks[0].fk.range.keystep = d->step;
		info.key_specs = ks;
	}
	if (rm.SetCommandInfo(cmd, &info) != RM_OK)
		rm_log(ctx, "warning",
		       "utmem: Redis refused the metadata of %s; it works without",
		       d->name);
}

int tcmd_register(RedisModuleCtx *ctx)
{
	for (size_t i = 0; i < TCMD_NDEFS; i++) {
		const struct tcmd_def *d = &tcmd_defs[i];

		if (rm.CreateCommand(ctx, d->name, d->fn, d->flags, d->first,
				     d->last, d->step) != RM_OK) {
			rm_log(ctx, "warning",
			       "utmem: Redis refused to register command %s",
			       d->name);
			return -EINVAL;
		}
		tcmd_set_info(ctx, i);
	}
	return 0;
}

