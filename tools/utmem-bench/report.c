/*
 * report.c — the output of utmem-bench.
 *
 * Latency is per round trip (one pipeline of --pipeline requests), because
 * that is what the client waits for; with a pipeline of 1 it is the latency
 * of one request. MB/s counts value bytes moved by successful requests, in
 * 10^6 bytes per second, so PUT and GET of the same size compare directly.
 */
#include "report.h"

#include <inttypes.h>

/* Print s as a JSON string (quotes included). */
void ub_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* Nanoseconds to microseconds for printing. */
static double ub_us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

/* One line, flat keys, numbers unquoted: easy for jq, sed or awk. */
static void ub_report_json(FILE *f, const struct ub_opts *o,
			   const struct ub_result *r)
{
	const struct ub_hist *h = &r->hist;

	fputs("{\"label\":", f);
	ub_json_str(f, o->label);
	fprintf(f, ",\"target\":\"%s\",\"addr\":", ub_target_name(o->target));
	ub_json_str(f, o->addr ? o->addr : "");
	fprintf(f, ",\"op\":\"%s\",\"get_ratio\":%.3f,\"value_size\":%zu"
		",\"keys\":%" PRIu32 ",\"key_offset\":%" PRIu32
		",\"connections\":%u,\"pipeline\":%u",
		ub_op_name(o->op), o->op == UB_OP_MIX ? o->get_ratio
			: (o->op == UB_OP_GET ? 1.0 : 0.0),
		o->value_size, o->keys, o->key_offset, o->connections, o->pipeline);
	fprintf(f, ",\"duration_s\":%.3f,\"ops\":%" PRIu64 ",\"ops_per_s\":%.1f"
		",\"mb_per_s\":%.2f,\"misses\":%" PRIu64 ",\"errors\":%" PRIu64
		",\"rounds\":%" PRIu64,
		r->elapsed_s, r->tally.ok + r->tally.miss, r->ops_per_s,
		r->mb_per_s, r->tally.miss, r->tally.err, r->rounds);
	fprintf(f, ",\"lat_unit\":\"us_per_round_trip\",\"p50_us\":%.2f"
		",\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.2f,\"mean_us\":%.2f",
		ub_us(ub_hist_quantile(h, 0.5)), ub_us(ub_hist_quantile(h, 0.99)),
		ub_us(ub_hist_quantile(h, 0.999)), ub_us(h->count ? h->max : 0),
		ub_hist_mean(h) / 1000.0);
	fputs(",\"first_error\":", f);
	ub_json_str(f, r->error);
	fputs("}\n", f);
}

/* The block a person reads: parameters, then one line per measure. */
static void ub_report_human(FILE *f, const struct ub_opts *o,
			    const struct ub_result *r)
{
	const struct ub_hist *h = &r->hist;

	fprintf(f, "utmem-bench %s%s%s target=%s%s%s op=%s",
		o->label[0] ? "[" : "", o->label, o->label[0] ? "]" : "",
		ub_target_name(o->target), o->addr ? " addr=" : "",
		o->addr ? o->addr : "", ub_op_name(o->op));
	if (o->op == UB_OP_MIX)
		fprintf(f, " get-ratio=%.2f", o->get_ratio);
	fprintf(f, " value=%zu keys=%" PRIu32, o->value_size, o->keys);
	if (o->key_offset)
		fprintf(f, " key-offset=%" PRIu32, o->key_offset);
	fprintf(f, " connections=%u pipeline=%u\n", o->connections, o->pipeline);
	fprintf(f, "  measured   %.3f s (after %.1f s warmup)\n", r->elapsed_s,
		o->warmup_s);
	fprintf(f, "  requests   %" PRIu64 " answered, %" PRIu64 " misses, %"
		PRIu64 " errors\n", r->tally.ok + r->tally.miss, r->tally.miss,
		r->tally.err);
	fprintf(f, "  throughput %.0f ops/s, %.2f MB/s\n", r->ops_per_s,
		r->mb_per_s);
	fprintf(f, "  latency    per round trip of %u request%s, us: p50 %.2f  "
		"p99 %.2f  p99.9 %.2f  max %.2f  mean %.2f\n", o->pipeline,
		o->pipeline == 1 ? "" : "s", ub_us(ub_hist_quantile(h, 0.5)),
		ub_us(ub_hist_quantile(h, 0.99)), ub_us(ub_hist_quantile(h, 0.999)),
		ub_us(h->count ? h->max : 0), ub_hist_mean(h) / 1000.0);
	if (r->error[0])
		fprintf(f, "  first error: %s\n", r->error);
}

void ub_report(FILE *f, const struct ub_opts *o, const struct ub_result *r)
{
	if (o->json)
		ub_report_json(f, o, r);
	else
		ub_report_human(f, o, r);
	fflush(f);
}
