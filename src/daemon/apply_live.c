/*
 * apply_live.c — what of a configuration took effect when ud_apply_cfg()
 * (control.c) stopped part way: which settings and records it had applied,
 * in its order, for the report of a change (admin_cfg.c) and for the
 * running configuration that change leaves (ud_apply_live). No daemon
 * state: the unit test of the config reader runs it too.
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The main settings ud_apply_cfg() applies after the tenants, before the
 * pools (ud_limits_from_cfg and the log level); every other one that needs
 * no restart, but capacity, takes effect with the whole config. */
static bool applied_with_limits(const char *key)
{
	static const char *const keys[] = {"idle_timeout", "client_timeout",
					   "frame_timeout", "auth_timeout",
					   "max_unauth", "log_level"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return false;
}

bool ud_apply_passed(const struct ud_apply_at *at, enum ud_apply_stage stage,
		     size_t rec)
{
	return at->stage > stage || (at->stage == stage && rec < at->index);
}

bool ud_apply_took(const struct ud_setting *s, const struct ud_apply_at *at,
		   size_t rec)
{
	if (at->stage == UD_APPLY_DONE || (s->flags & (UD_SF_RESTART | UD_SF_CREATE)))
		return true;
	switch (s->scope) {
	case UD_SCOPE_MAIN:
		if (strcmp(s->key, "capacity") == 0)
			return at->stage > UD_APPLY_CAPACITY;
		return applied_with_limits(s->key) && at->stage > UD_APPLY_TENANTS;
	case UD_SCOPE_TENANT:
		return ud_apply_passed(at, UD_APPLY_TENANTS, rec);
	case UD_SCOPE_POOL:
		return ud_apply_passed(at, UD_APPLY_POOLS, rec);
	default:
		return false;
	}
}

/* Put old's record of the pool at live->pools[i] (deep); -ENOMEM. */
static int pool_back(struct ud_cfg *live, size_t i, const struct ud_cfg_pool *op)
{
	struct ud_cfg_pool p;

	if (ud_cfg_pool_copy(&p, op) < 0)
		return -ENOMEM;
	free(live->pools[i].tenants);
	free(live->pools[i].managers);
	live->pools[i] = p;
	return 0;
}

int ud_apply_live(const struct ud_cfg *old, const struct ud_cfg *next,
		  int remove_missing, const struct ud_apply_at *at,
		  struct ud_cfg *live)
{
	bool removed = remove_missing && at->stage >= UD_APPLY_TENANTS;
	struct ud_names in_old, in_next;
	int err = -ENOMEM;

	if (ud_cfg_copy(live, next) < 0)
		return -ENOMEM;
	ud_cfg_index(old, &in_old);
	ud_cfg_index(next, &in_next);
	/* The main settings that did not take keep old's values. */
	for (size_t i = 0; i < ud_nsettings; i++) {
		const struct ud_setting *s = &ud_settings[i];
		uint64_t bit = 1ull << ud_setting_bit(s);

		if (s->scope != UD_SCOPE_MAIN || ud_apply_took(s, at, 0))
			continue;
		memcpy((char *)live + s->off, (const char *)old + s->off, s->size);
		live->given = (live->given & ~bit) | (old->given & bit);
		if (strcmp(s->key, "capacity") == 0) /* its other field */
			live->capacity_pct = old->capacity_pct;
	}
	/* A tenant not reached keeps old's record; one ud_apply_cfg() created
	 * (past UD_APPLY_NEW) is there with next's. */
	for (size_t i = 0; i < live->ntenants; i++) {
		const struct ud_cfg_tenant *ot =
			ud_cfg_tenant_in(old, &in_old, live->tenants[i].name);

		if (ot && !ud_apply_passed(at, UD_APPLY_TENANTS, i))
			live->tenants[i] = *ot;
	}
	/* A pool not reached keeps old's record, or was not created. */
	for (size_t i = live->npools; i-- > 0;) {
		const struct ud_cfg_pool *op = ud_cfg_find_pool(old, live->pools[i].name);

		if (ud_apply_passed(at, UD_APPLY_POOLS, i))
			continue;
		if (op) {
			if (pool_back(live, i, op) < 0)
				goto nomem;
			continue;
		}
		free(live->pools[i].tenants);
		free(live->pools[i].managers);
		memmove(&live->pools[i], &live->pools[i + 1],
			(live->npools - i - 1) * sizeof(live->pools[0]));
		live->npools--;
	}
	/* What next leaves out stays (shared pools go only with a whole
	 * reload, drop_missing_pools), but the tenants removed on the way. */
	for (size_t i = 0; i < old->npools; i++) {
		struct ud_cfg_pool *p;

		if (ud_cfg_find_pool(next, old->pools[i].name))
			continue;
		if (!(p = ud_cfg_add_pool(live, old->pools[i].name)) ||
		    pool_back(live, (size_t)(p - live->pools), &old->pools[i]) < 0)
			goto nomem;
	}
	for (size_t i = 0; i < old->ntenants; i++) {
		const struct ud_cfg_tenant *ot = &old->tenants[i];
		struct ud_cfg_tenant *t;

		if (ud_cfg_tenant_in(next, &in_next, ot->name))
			continue;
		if (removed) {
			ud_cfg_remove_tenant(live, ot->name); /* and from the pools */
			continue;
		}
		if (!(t = ud_cfg_add_tenant(live, ot->name)))
			goto nomem;
		*t = *ot;
	}
	err = 0;
nomem:
	ud_names_free(&in_old);
	ud_names_free(&in_next);
	if (err)
		ud_cfg_free(live);
	return err;
}
