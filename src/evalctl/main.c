/* evalctl: the command-line client of evald. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <evald/error.h>
#include <evald/wire.h>
#include <evald/json.h>
#include <evald/registry.h>
#include <evald/hist.h>

#include "client.h"
#include "records.h"

#define DEFAULT_CONNECT "tcp://127.0.0.1:7390"
#define THRESHOLDS_MAX  1024
#define WINDOW          64 /* batches sent ahead of their acknowledgements */

enum { EXIT_SERVER_ERROR = 1, EXIT_USAGE = 2 };

static const char usage[] =
        "usage: evalctl [--connect tcp://HOST:PORT | unix:PATH | HOST:PORT | PATH] "
        "[--token-file FILE] COMMAND [options]\n"
        "commands:\n"
        "  send [--stream S] [--batch N] [FILE]   send label,score[,weight] lines (CSV or TSV)\n"
        "  send --predictions [...] [FILE]        send id,score[,weight][,time] lines\n"
        "  send --labels [...] [FILE]             send id,label[,time] lines\n"
        "  snapshot [--stream S] [--window W] [--threshold T]... [--curve] [--json]\n"
        "           [--operating-point recall=R | precision=P | fpr=F]...\n"
        "           [--calibration[=GROUPS]] [--strategy uniform|quantile]\n"
        "  drift [--stream S] [--window W] --reference-stream R | --reference-window W2 [--json]\n"
        "                                         how far the scores moved from a reference\n"
        "  streams [--json]                       list the streams\n"
        "  reset --stream S                       forget a stream's records\n"
        "  stats [--json]                         server counters\n"
        "  ping                                   check that evald answers\n"
        "--connect defaults to " DEFAULT_CONNECT " (or $EVALD_CONNECT).\n"
        "exit status: 0 success, 1 the server refused a request, 2 usage error or no server\n";

struct options {
	const char *connect, *stream, *window, *file;
	const char *ref_stream, *ref_window; /* drift's reference */
	const char *token_file;              /* --token-file or $EVALD_TOKEN_FILE */
	double thresholds[THRESHOLDS_MAX];
	size_t nthresholds;
	struct evald_targets targets; /* --operating-point, by kind */
	size_t ntargets;
	struct evald_calibration_spec calibration; /* groups 0: not asked for */
	size_t batch;
	bool curve, json;
	enum records_kind kind; /* send: observations, predictions or labels */
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Says what was wrong, then the usage; returns the usage exit status. */
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "evalctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage);
	return EXIT_USAGE;
}

static double num(const msgpack_object *o)
{
	if (!o)
		return NAN;
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return (double)o->via.u64;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return (double)o->via.i64;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return o->via.f64;
	default:
		return NAN;
	}
}

/* A number for a table: "-" when undefined. */
static const char *fmt_num(double v, char *buf, size_t len)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.6g", v);
	return buf;
}

static const char *str_of(const msgpack_object *o, char *buf, size_t len)
{
	if (!o || o->type != MSGPACK_OBJECT_STR)
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%.*s", (int)o->via.str.size, o->via.str.ptr);
	return buf;
}

/* Prints a server error reply; true if the reply was one. */
static bool report_error(const msgpack_object *reply, const char *context)
{
	const msgpack_object *ok = evald_map_get(reply, "ok");
	const msgpack_object *e = evald_map_get(reply, "error");
	char code[64], message[512];

	if (ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean)
		return false;
	fprintf(stderr, "evalctl: %s%s: %s\n", context ? context : "",
	        str_of(evald_map_get(e, "code"), code, sizeof(code)),
	        str_of(evald_map_get(e, "message"), message, sizeof(message)));
	return true;
}

static void print_json(const msgpack_object *reply)
{
	json_t *j = evald_msgpack_to_json(reply);

	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
	putchar('\n');
	json_decref(j);
}

/* The labels section of a snapshot, for a stream that takes predictions and labels. */
static void print_labels(const msgpack_object *l)
{
	static const char *const rows[][4] = {
	        {"predictions", "pending", "matched", "expired"},
	        {"evicted", "unmatched_labels", "waiting_labels", "late"},
	        {"duplicate_predictions", "duplicate_labels", "coverage", NULL},
	};
	const msgpack_object *delay = evald_map_get(l, "delay");
	char a[32], b[32], c[32], d[32];

	if (!l)
		return;
	printf("\nlabels\n");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		for (size_t k = 0; k < 4 && rows[i][k]; k++)
			printf("  %s %-10s", rows[i][k],
			       fmt_num(num(evald_map_get(l, rows[i][k])), a, 32));
		putchar('\n');
	}
	printf("  delay (s)  p50 %s  p90 %s  p99 %s  max %s\n",
	       fmt_num(num(evald_map_get(delay, "p50")), a, 32),
	       fmt_num(num(evald_map_get(delay, "p90")), b, 32),
	       fmt_num(num(evald_map_get(delay, "p99")), c, 32),
	       fmt_num(num(evald_map_get(delay, "max")), d, 32));
}

/* The operating points a snapshot answered, one line each, kinds in the reply's order. */
static void print_operating_points(const msgpack_object *ops)
{
	static const char *const cols[] = {"threshold", "precision", "recall", "f1",
	                                   "fpr",       "tp",        "fp"};
	char a[32], kind[16];

	if (!ops || ops->type != MSGPACK_OBJECT_MAP)
		return;
	printf("\n%-18s", "operating point");
	for (int i = 0; i < 7; i++)
		printf(" %11s", cols[i]);
	printf(" exact\n");
	for (uint32_t k = 0; k < ops->via.map.size; k++) {
		const msgpack_object *rows = &ops->via.map.ptr[k].val;
		str_of(&ops->via.map.ptr[k].key, kind, sizeof(kind));
		for (uint32_t i = 0; rows->type == MSGPACK_OBJECT_ARRAY && i < rows->via.array.size;
		     i++) {
			const msgpack_object *row = &rows->via.array.ptr[i];
			const msgpack_object *exact = evald_map_get(row, "exact");
			char label[40];
			snprintf(label, sizeof(label), "%s %s %s", kind,
			         strcmp(kind, "fpr") == 0 ? "<=" : ">=",
			         fmt_num(num(evald_map_get(row, "target")), a, 32));
			printf("%-18s", label);
			for (int j = 0; j < 7; j++)
				printf(" %11s", fmt_num(num(evald_map_get(row, cols[j])), a, 32));
			printf(" %s\n",
			       exact && exact->type == MSGPACK_OBJECT_BOOLEAN && exact->via.boolean
			               ? "yes"
			               : "no");
		}
	}
}

/* A snapshot's calibration groups, one line each, then ECE and MCE. */
static void print_calibration(const msgpack_object *cal)
{
	static const char *const cols[] = {"lo", "hi", "n", "mean_score", "fraction_positive"};
	const msgpack_object *groups = evald_map_get(cal, "bins"),
	                     *eb = evald_map_get(cal, "ece_bounds");
	char a[32], b[32], c[32], s[64];

	if (!cal)
		return;
	if (cal->type != MSGPACK_OBJECT_MAP) {
		printf("\ncalibration: none (the scores are not probabilities on [0, 1])\n");
		return;
	}
	printf("\ncalibration (%s)  ECE %s bounds [%s, ",
	       str_of(evald_map_get(cal, "strategy"), s, 16),
	       fmt_num(num(evald_map_get(cal, "ece")), a, 32),
	       fmt_num(eb ? num(&eb->via.array.ptr[0]) : NAN, b, 32));
	printf("%s]  MCE %s\n", fmt_num(eb ? num(&eb->via.array.ptr[1]) : NAN, a, 32),
	       fmt_num(num(evald_map_get(cal, "mce")), c, 32));
	printf("%11s %11s %11s %11s %11s  %-23s exact\n", "lo", "hi", "n", "mean score", "positive",
	       "95% CI");
	for (uint32_t i = 0;
	     groups && groups->type == MSGPACK_OBJECT_ARRAY && i < groups->via.array.size; i++) {
		const msgpack_object *g = &groups->via.array.ptr[i],
		                     *ci = evald_map_get(g, "fraction_positive_ci");
		const msgpack_object *exact = evald_map_get(g, "exact");
		for (int j = 0; j < 5; j++)
			printf("%11s ", fmt_num(num(evald_map_get(g, cols[j])), a, 32));
		snprintf(s, sizeof(s), "[%s, %s]",
		         fmt_num(ci ? num(&ci->via.array.ptr[0]) : NAN, b, 32),
		         fmt_num(ci ? num(&ci->via.array.ptr[1]) : NAN, c, 32));
		printf(" %-23s %s\n", s,
		       exact && exact->type == MSGPACK_OBJECT_BOOLEAN && exact->via.boolean ? "yes"
		                                                                            : "no");
	}
}

static void print_snapshot(const msgpack_object *r, bool curve)
{
	const msgpack_object *range = evald_map_get(r, "range"),
	                     *list = evald_map_get(r, "thresholds");
	const msgpack_object *apb = evald_map_get(r, "average_precision_bounds");
	const msgpack_object *aucb = evald_map_get(r, "roc_auc_bounds");
	const msgpack_object *best = evald_map_get(r, "best_f1");
	char a[32], b[32], c[32], d[32], s1[160], s2[32], s3[32];

	printf("stream %s  window %s  n %s  positives %s  negatives %s\n",
	       str_of(evald_map_get(r, "stream"), s1, sizeof(s1)),
	       str_of(evald_map_get(r, "window"), s2, sizeof(s2)),
	       fmt_num(num(evald_map_get(r, "n")), a, 32),
	       fmt_num(num(evald_map_get(r, "positives")), b, 32),
	       fmt_num(num(evald_map_get(r, "negatives")), c, 32));
	printf("bins %s %s on [%s, %s]  out of range %s\n",
	       fmt_num(num(evald_map_get(r, "bins")), a, 32),
	       str_of(evald_map_get(r, "spacing"), s3, sizeof(s3)),
	       fmt_num(range ? num(&range->via.array.ptr[0]) : NAN, b, 32),
	       fmt_num(range ? num(&range->via.array.ptr[1]) : NAN, c, 32),
	       fmt_num(num(evald_map_get(r, "out_of_range")), d, 32));
	printf("\naverage precision  %-10s bounds [%s, %s]\n",
	       fmt_num(num(evald_map_get(r, "average_precision")), a, 32),
	       fmt_num(apb ? num(&apb->via.array.ptr[0]) : NAN, b, 32),
	       fmt_num(apb ? num(&apb->via.array.ptr[1]) : NAN, c, 32));
	const msgpack_object *aucci = evald_map_get(r, "roc_auc_ci");
	printf("ROC-AUC            %-10s bounds [%s, %s]  95%% CI [%s, ",
	       fmt_num(num(evald_map_get(r, "roc_auc")), a, 32),
	       fmt_num(aucb ? num(&aucb->via.array.ptr[0]) : NAN, b, 32),
	       fmt_num(aucb ? num(&aucb->via.array.ptr[1]) : NAN, c, 32),
	       fmt_num(aucci ? num(&aucci->via.array.ptr[0]) : NAN, d, 32));
	printf("%s]\n", fmt_num(aucci ? num(&aucci->via.array.ptr[1]) : NAN, a, 32));
	printf("Brier              %-10s log loss %s\n",
	       fmt_num(num(evald_map_get(r, "brier")), a, 32),
	       fmt_num(num(evald_map_get(r, "log_loss")), b, 32));
	printf("best F1            %-10s at threshold %s (precision %s, recall %s)\n\n",
	       fmt_num(num(evald_map_get(best, "f1")), a, 32),
	       fmt_num(num(evald_map_get(best, "threshold")), b, 32),
	       fmt_num(num(evald_map_get(best, "precision")), c, 32),
	       fmt_num(num(evald_map_get(best, "recall")), d, 32));

	static const char *const cols[] = {"tp",     "fp", "tn",       "fn",  "precision",
	                                   "recall", "f1", "accuracy", "fpr", "specificity"};
	printf("%-12s %-5s", "threshold", "exact");
	for (int i = 0; i < 10; i++)
		printf(" %11s", cols[i]);
	putchar('\n');
	for (uint32_t k = 0; list && k < list->via.array.size; k++) {
		const msgpack_object *row = &list->via.array.ptr[k];
		const msgpack_object *exact = evald_map_get(row, "exact");
		printf("%-12s %-5s", fmt_num(num(evald_map_get(row, "threshold")), a, 32),
		       exact && exact->type == MSGPACK_OBJECT_BOOLEAN && exact->via.boolean ? "yes"
		                                                                            : "no");
		for (int i = 0; i < 10; i++)
			printf(" %11s", fmt_num(num(evald_map_get(row, cols[i])), b, 32));
		putchar('\n');
	}
	printf("\n%-12s %-19s %-19s %-19s %s\n", "threshold", "precision 95% CI", "recall 95% CI",
	       "specificity 95% CI", "enough records");
	for (uint32_t k = 0; list && k < list->via.array.size; k++) {
		const msgpack_object *row = &list->via.array.ptr[k];
		const msgpack_object *few = evald_map_get(row, "insufficient");
		printf("%-12s", fmt_num(num(evald_map_get(row, "threshold")), a, 32));
		static const char *const cis[] = {"precision_ci", "recall_ci", "specificity_ci"};
		for (int i = 0; i < 3; i++) {
			const msgpack_object *ci = evald_map_get(row, cis[i]);
			snprintf(s1, sizeof(s1), "[%s, %s]",
			         fmt_num(ci ? num(&ci->via.array.ptr[0]) : NAN, b, 32),
			         fmt_num(ci ? num(&ci->via.array.ptr[1]) : NAN, c, 32));
			printf(" %-19s", s1);
		}
		printf(" %s\n", few && few->type == MSGPACK_OBJECT_BOOLEAN && few->via.boolean
		                        ? "no (under 10 effective records)"
		                        : "yes");
	}
	print_operating_points(evald_map_get(r, "operating_points"));
	print_calibration(evald_map_get(r, "calibration"));
	print_labels(evald_map_get(r, "labels"));
	if (!curve)
		return;
	const msgpack_object *cv = evald_map_get(r, "curve");
	static const char *const ccols[] = {"threshold", "precision", "recall", "fpr", "tp", "fp"};
	printf("\ncurve\n");
	for (int i = 0; i < 6; i++)
		printf("%12s", ccols[i]);
	putchar('\n');
	const msgpack_object *t = evald_map_get(cv, "threshold");
	for (uint32_t k = 0; t && k < t->via.array.size; k++) {
		for (int i = 0; i < 6; i++) {
			const msgpack_object *col = evald_map_get(cv, ccols[i]);
			printf("%12s",
			       fmt_num(col && k < col->via.array.size ? num(&col->via.array.ptr[k])
			                                              : NAN,
			               a, 32));
		}
		putchar('\n');
	}
}

static void print_streams(const msgpack_object *r)
{
	const msgpack_object *list = evald_map_get(r, "streams");
	char name[160], a[32], b[32], c[32];

	printf("%-40s %14s %14s %14s\n", "stream", "n", "positives", "negatives");
	for (uint32_t i = 0; list && i < list->via.array.size; i++) {
		const msgpack_object *s = &list->via.array.ptr[i];
		printf("%-40s %14s %14s %14s\n",
		       str_of(evald_map_get(s, "name"), name, sizeof(name)),
		       fmt_num(num(evald_map_get(s, "n")), a, 32),
		       fmt_num(num(evald_map_get(s, "positives")), b, 32),
		       fmt_num(num(evald_map_get(s, "negatives")), c, 32));
	}
}

/* key value lines; maps of counters show their nonzero entries as key.sub. */
static void print_stats(const msgpack_object *r)
{
	char key[64], sub[64], a[32];

	for (uint32_t i = 0; i < r->via.map.size; i++) {
		const msgpack_object_kv *kv = &r->via.map.ptr[i];
		str_of(&kv->key, key, sizeof(key));
		if (strcmp(key, "ok") == 0)
			continue;
		if (kv->val.type != MSGPACK_OBJECT_MAP) {
			printf("%-28s %s\n", key, fmt_num(num(&kv->val), a, 32));
			continue;
		}
		for (uint32_t j = 0; j < kv->val.via.map.size; j++) {
			double v = num(&kv->val.via.map.ptr[j].val);
			if (v != 0) {
				char full[140];
				snprintf(full, sizeof(full), "%s.%s", key,
				         str_of(&kv->val.via.map.ptr[j].key, sub, sizeof(sub)));
				printf("%-28s %s\n", full, fmt_num(v, a, 32));
			}
		}
	}
}

/* Sends one request and waits for its reply. */
static int rpc(struct evald_client *c, msgpack_sbuffer *req, const msgpack_object **reply)
{
	if (evald_client_send(c, req->data, req->size) != 0 || evald_client_recv(c, reply) != 0) {
		fprintf(stderr, "evalctl: the connection to evald broke\n");
		return EXIT_USAGE;
	}
	return 0;
}

/*
 * Sends the token of a token file (its first line, spaces trimmed) before
 * any request; 0 without a file. The token is never printed.
 */
static int authenticate(struct evald_client *c, const char *path)
{
	char token[512], err[600];
	int r;

	if (!path)
		return 0;
	if (evald_client_token_file(path, token, sizeof(token), err, sizeof(err)) != 0) {
		fprintf(stderr, "evalctl: %s\n", err);
		return EXIT_USAGE;
	}
	r = evald_client_auth(c->fd, token, err, sizeof(err));
	memset(token, 0, sizeof(token));
	if (r)
		fprintf(stderr, "evalctl: %s\n", err);
	return r == 0 ? 0 : r == EVALD_EFORBIDDEN ? EXIT_SERVER_ERROR : EXIT_USAGE;
}

/* A target as a request asks for it: the number alone. */
static void pack_target(msgpack_packer *pk, enum evald_target_kind kind, double target,
                        const void *ctx)
{
	(void)kind;
	(void)ctx;
	msgpack_pack_double(pk, target);
}

/* A drift reply: what was compared, then each figure with its bounds where it has them. */
static void print_drift(const msgpack_object *r)
{
	static const char *const rows[][3] = {
	        {"PSI", "psi", NULL},
	        {"PSI expected with no drift", "psi_expected", NULL},
	        {"Jensen-Shannon distance", "js", NULL},
	        {"Hellinger distance", "hellinger", NULL},
	        {"KS statistic", "ks", "ks_bounds"},
	        {"KS p-value", "ks_p_value", NULL},
	        {"W1 / reference's std", "w1_std", "w1_std_bounds"},
	};
	const msgpack_object *ref = evald_map_get(r, "reference");
	char a[32], b[32], c[32], s1[160], s2[40], s3[160], s4[40];

	printf("stream %s  window %s  n %s\n", str_of(evald_map_get(r, "stream"), s1, sizeof(s1)),
	       str_of(evald_map_get(r, "window"), s2, sizeof(s2)),
	       fmt_num(num(evald_map_get(r, "n")), a, 32));
	printf("against %s  window %s  n %s  (%s groups)\n\n",
	       str_of(evald_map_get(ref, "stream"), s3, sizeof(s3)),
	       str_of(evald_map_get(ref, "window"), s4, sizeof(s4)),
	       fmt_num(num(evald_map_get(r, "reference_n")), b, 32),
	       fmt_num(num(evald_map_get(r, "groups")), c, 32));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const msgpack_object *bounds = rows[i][2] ? evald_map_get(r, rows[i][2]) : NULL;
		printf("%-28s %-12s", rows[i][0],
		       fmt_num(num(evald_map_get(r, rows[i][1])), a, 32));
		if (bounds)
			printf(" bounds [%s, %s]", fmt_num(num(&bounds->via.array.ptr[0]), b, 32),
			       fmt_num(num(&bounds->via.array.ptr[1]), c, 32));
		putchar('\n');
	}
}

static int simple_command(struct evald_client *c, const char *cmd, const struct options *o)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	const msgpack_object *reply;
	bool snapshot = strcmp(cmd, "snapshot") == 0, drift = strcmp(cmd, "drift") == 0;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk,
	                 1 + (o->stream != NULL) +
	                         (snapshot ? 1 + (o->window != NULL) + (o->nthresholds > 0) +
	                                             (o->ntargets > 0) + (o->calibration.groups > 0)
	                          : drift ? 1 + (o->window != NULL)
	                                  : 0));
	evald_pack_str(&pk, "op");
	evald_pack_str(&pk, cmd);
	if (o->stream) {
		evald_pack_str(&pk, "stream");
		evald_pack_str(&pk, o->stream);
	}
	if (snapshot) {
		evald_pack_str(&pk, "curve");
		if (o->curve)
			msgpack_pack_true(&pk);
		else
			msgpack_pack_false(&pk);
		if (o->window) {
			evald_pack_str(&pk, "window");
			evald_pack_str(&pk, o->window);
		}
		if (o->nthresholds) {
			evald_pack_str(&pk, "thresholds");
			msgpack_pack_array(&pk, o->nthresholds);
			for (size_t i = 0; i < o->nthresholds; i++)
				msgpack_pack_double(&pk, o->thresholds[i]);
		}
		if (o->ntargets)
			evald_pack_targets(&pk, &o->targets, pack_target, NULL);
		if (o->calibration.groups) {
			evald_pack_str(&pk, "calibration");
			msgpack_pack_map(&pk, 2);
			evald_pack_str(&pk, "bins");
			msgpack_pack_uint32(&pk, o->calibration.groups);
			evald_pack_str(&pk, "strategy");
			evald_pack_str(&pk,
			               evald_calibration_strategy_names[o->calibration.strategy]);
		}
	}
	if (drift) {
		if (o->window) {
			evald_pack_str(&pk, "window");
			evald_pack_str(&pk, o->window);
		}
		evald_pack_str(&pk, "reference");
		msgpack_pack_map(&pk, (o->ref_stream != NULL) + (o->ref_window != NULL));
		if (o->ref_stream) {
			evald_pack_str(&pk, "stream");
			evald_pack_str(&pk, o->ref_stream);
		}
		if (o->ref_window) {
			evald_pack_str(&pk, "window");
			evald_pack_str(&pk, o->ref_window);
		}
	}
	rc = rpc(c, &sb, &reply);
	msgpack_sbuffer_destroy(&sb);
	if (rc)
		return rc;
	if (report_error(reply, NULL))
		return EXIT_SERVER_ERROR;
	if (o->json)
		print_json(reply);
	else if (snapshot)
		print_snapshot(reply, o->curve);
	else if (drift)
		print_drift(reply);
	else if (strcmp(cmd, "streams") == 0)
		print_streams(reply);
	else if (strcmp(cmd, "stats") == 0)
		print_stats(reply);
	else if (strcmp(cmd, "ping") == 0) {
		char v[64];
		printf("evald %s\n", str_of(evald_map_get(reply, "version"), v, sizeof(v)));
	} else
		printf("ok\n");
	return 0;
}

/* Records of one batch, with the lines they came from. */
struct batch {
	size_t n;
	unsigned long *lines;
	struct text_record *recs;
	bool weighted, timed;
};

/* The ops and columns of each kind of line. */
static const struct {
	const char *op, *noun;
} sends[] = {
        [RECORDS_OBSERVE] = {"observe", "records"},
        [RECORDS_PREDICTIONS] = {"predict", "predictions"},
        [RECORDS_LABELS] = {"label", "labels"},
};

static void pack_id(msgpack_packer *pk, const struct text_record *r)
{
	if (r->id_int) {
		msgpack_pack_uint64(pk, r->id_u64);
	} else {
		msgpack_pack_str(pk, r->id_len);
		msgpack_pack_str_body(pk, r->id, r->id_len);
	}
}

/* Unix seconds now, for the lines of a timed batch that give no time. */
static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pack_batch(msgpack_packer *pk, const struct batch *b, enum records_kind kind,
                       const char *stream, size_t id)
{
	bool ids = kind != RECORDS_OBSERVE, labels = kind != RECORDS_PREDICTIONS,
	     scores = kind != RECORDS_LABELS;
	double now = wall_now();

	msgpack_pack_map(pk, 2 + (stream != NULL) + ids + labels + scores + b->weighted + b->timed);
	evald_pack_str(pk, "op");
	evald_pack_str(pk, sends[kind].op);
	evald_pack_str(pk, "id");
	msgpack_pack_uint64(pk, id);
	if (stream) {
		evald_pack_str(pk, "stream");
		evald_pack_str(pk, stream);
	}
	if (ids) {
		evald_pack_str(pk, "ids");
		msgpack_pack_array(pk, b->n);
		for (size_t i = 0; i < b->n; i++)
			pack_id(pk, &b->recs[i]);
	}
	if (labels) {
		evald_pack_str(pk, "labels");
		msgpack_pack_array(pk, b->n);
		for (size_t i = 0; i < b->n; i++)
			msgpack_pack_uint8(pk, (uint8_t)b->recs[i].label);
	}
	if (scores) {
		evald_pack_str(pk, "scores");
		msgpack_pack_array(pk, b->n);
		for (size_t i = 0; i < b->n; i++)
			msgpack_pack_double(pk, b->recs[i].score);
	}
	if (b->weighted) {
		evald_pack_str(pk, "weights");
		msgpack_pack_array(pk, b->n);
		for (size_t i = 0; i < b->n; i++)
			msgpack_pack_double(pk, b->recs[i].weight);
	}
	if (b->timed) {
		evald_pack_str(pk, "times");
		msgpack_pack_array(pk, b->n);
		for (size_t i = 0; i < b->n; i++)
			msgpack_pack_double(pk, isnan(b->recs[i].time) ? now : b->recs[i].time);
	}
}

struct sender {
	struct evald_client *c;
	const struct options *o;
	struct batch ring[WINDOW];
	size_t sent, acked; /* batch numbers */
	unsigned long accepted, rejected;
	unsigned long duplicates, matched, waiting; /* predictions and labels */
	bool broken;
};

/* Reads the acknowledgement of the oldest batch in flight. */
static void await_ack(struct sender *s)
{
	struct batch *b = &s->ring[s->acked % WINDOW];
	const msgpack_object *reply, *e;

	if (s->broken || evald_client_recv(s->c, &reply) != 0) {
		s->broken = true;
		s->acked++;
		return;
	}
	s->acked++;
	if (!report_error(reply, NULL)) {
		s->accepted += s->o->kind == RECORDS_LABELS
		                       ? b->n
		                       : (unsigned long)num(evald_map_get(reply, "accepted"));
		if (s->o->kind != RECORDS_OBSERVE)
			s->duplicates += (unsigned long)num(evald_map_get(reply, "duplicates"));
		if (s->o->kind == RECORDS_LABELS) {
			s->matched += (unsigned long)num(evald_map_get(reply, "matched"));
			s->waiting += (unsigned long)num(evald_map_get(reply, "waiting"));
		}
		return;
	}
	s->rejected += b->n;
	e = evald_map_get(evald_map_get(reply, "error"), "index");
	if (e && num(e) < (double)b->n)
		fprintf(stderr, "evalctl: line %lu: the batch holding it was refused\n",
		        b->lines[(size_t)num(e)]);
}

static int send_batch(struct sender *s, msgpack_sbuffer *sb)
{
	msgpack_packer pk;
	struct batch *b = &s->ring[s->sent % WINDOW];

	if (b->n == 0)
		return 0;
	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	pack_batch(&pk, b, s->o->kind, s->o->stream, s->sent);
	if (evald_client_send(s->c, sb->data, sb->size) != 0) {
		s->broken = true;
		return -1;
	}
	s->sent++;
	if (s->sent - s->acked == WINDOW)
		await_ack(s);
	struct batch *next = &s->ring[s->sent % WINDOW];
	next->n = 0;
	next->weighted = next->timed = false;
	return 0;
}

/* 0 if a record read from a line can be sent, else the error evald would answer. */
static int record_check(enum records_kind kind, const struct text_record *r)
{
	int err = evald_record_check(kind == RECORDS_PREDICTIONS ? 0 : r->label,
	                             kind == RECORDS_LABELS ? 0.0 : r->score, r->weight);

	if (err == 0 && !isnan(r->time) && !(isfinite(r->time) && r->time >= 0))
		err = EVALD_ETIME;
	return err;
}

/* Says what the server made of what was sent. */
static void print_sent(const struct sender *s)
{
	const char *stream = s->o->stream ? s->o->stream : "default";

	printf("sent %lu %s to stream %s", s->accepted, sends[s->o->kind].noun, stream);
	if (s->o->kind == RECORDS_LABELS)
		printf(": %lu matched, %lu waiting for their prediction, %lu duplicates",
		       s->matched, s->waiting, s->duplicates);
	else if (s->o->kind == RECORDS_PREDICTIONS)
		printf(" (%lu duplicates left out)", s->duplicates);
}

static int send_command(struct evald_client *c, const struct options *o)
{
	struct sender s = {.c = c, .o = o};
	struct records_reader reader;
	struct text_record rec;
	msgpack_sbuffer sb;
	FILE *in = stdin;
	char why[256];
	int got, rc = 0;
	unsigned long bad_lines = 0;

	if (o->file && !(in = fopen(o->file, "r"))) {
		perror(o->file);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < WINDOW; i++) {
		struct batch *b = &s.ring[i];
		b->lines = malloc(o->batch * sizeof(*b->lines));
		b->recs = malloc(o->batch * sizeof(*b->recs));
		if (!b->lines || !b->recs) {
			fprintf(stderr, "evalctl: out of memory\n");
			rc = EXIT_USAGE;
			goto done;
		}
	}
	msgpack_sbuffer_init(&sb);
	records_reader_init(&reader, in, o->kind);
	while (!s.broken && (got = records_reader_next(&reader, &rec, why, sizeof(why))) != 0) {
		int err;
		if (got < 0 || (err = record_check(o->kind, &rec)) != 0) {
			fprintf(stderr, "evalctl: line %lu: %s\n", reader.lineno,
			        got < 0 ? why : evald_strerror(err));
			bad_lines++;
			continue;
		}
		struct batch *b = &s.ring[s.sent % WINDOW];
		b->lines[b->n] = reader.lineno;
		b->recs[b->n] = rec;
		b->weighted |= rec.weight != 1.0;
		b->timed |= !isnan(rec.time);
		if (++b->n == o->batch)
			send_batch(&s, &sb);
	}
	send_batch(&s, &sb);
	while (s.acked < s.sent)
		await_ack(&s);
	records_reader_destroy(&reader);
	msgpack_sbuffer_destroy(&sb);
	if (s.broken) {
		fprintf(stderr, "evalctl: the connection to evald broke after %lu %s\n", s.accepted,
		        sends[o->kind].noun);
		rc = EXIT_USAGE;
	} else {
		print_sent(&s);
		if (bad_lines || s.rejected)
			printf("; %lu lines rejected", bad_lines + s.rejected);
		printf("\n");
		rc = bad_lines || s.rejected ? EXIT_SERVER_ERROR : 0;
	}
done:
	for (size_t i = 0; i < WINDOW; i++) {
		free(s.ring[i].lines);
		free(s.ring[i].recs);
	}
	if (in != stdin)
		fclose(in);
	return rc;
}

static bool parse_double(const char *s, double *out)
{
	char *end;

	*out = strtod(s, &end);
	return end != s && *end == '\0' && isfinite(*out);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"connect", required_argument, NULL, 'C'},
	        {"stream", required_argument, NULL, 's'},
	        {"window", required_argument, NULL, 'w'},
	        {"threshold", required_argument, NULL, 't'},
	        {"operating-point", required_argument, NULL, 'o'},
	        {"calibration", optional_argument, NULL, 'A'},
	        {"token-file", required_argument, NULL, 'T'},
	        {"strategy", required_argument, NULL, 'S'},
	        {"reference-stream", required_argument, NULL, 'R'},
	        {"reference-window", required_argument, NULL, 'W'},
	        {"curve", no_argument, NULL, 'c'},
	        {"json", no_argument, NULL, 'j'},
	        {"batch", required_argument, NULL, 'b'},
	        {"predictions", no_argument, NULL, 'P'},
	        {"labels", no_argument, NULL, 'L'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	static struct options o;
	bool strategy = false;
	struct evald_client c;
	const char *cmd;
	char err[512];
	double v;
	int opt, rc;

	o.connect = getenv("EVALD_CONNECT") ? getenv("EVALD_CONNECT") : DEFAULT_CONNECT;
	o.token_file = getenv("EVALD_TOKEN_FILE");
	o.batch = 1000;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'C':
			o.connect = optarg;
			break;
		case 's':
			if (evald_stream_name_check(optarg, strlen(optarg)) != 0)
				return usage_error("--stream: a stream name is 1 to 128 bytes of "
				                   "printable ASCII, not '%s'",
				                   optarg);
			o.stream = optarg;
			break;
		case 'w':
			o.window = optarg;
			break;
		case 't':
			if (o.nthresholds == THRESHOLDS_MAX || !parse_double(optarg, &v))
				return usage_error("--threshold: '%s' is not a finite number",
				                   optarg);
			o.thresholds[o.nthresholds++] = v;
			break;
		case 'o': {
			const char *eq = strchr(optarg, '=');
			int k = 0;
			while (eq && k < EVALD_TARGET_KINDS &&
			       (strlen(evald_target_names[k]) != (size_t)(eq - optarg) ||
			        strncmp(optarg, evald_target_names[k], (size_t)(eq - optarg)) != 0))
				k++;
			if (!eq || k == EVALD_TARGET_KINDS || !parse_double(eq + 1, &v) || v < 0 ||
			    v > 1 || o.targets.n[k] == EVALD_TARGETS_MAX)
				return usage_error(
				        "--operating-point: '%s' is not recall=R, "
				        "precision=P or fpr=F with a number from 0 to 1 (at "
				        "most %d of each)",
				        optarg, EVALD_TARGETS_MAX);
			o.targets.v[k][o.targets.n[k]++] = v;
			o.ntargets++;
			break;
		}
		case 'T':
			o.token_file = optarg;
			break;
		case 'A':
			if (optarg && (!parse_double(optarg, &v) || v < 1 ||
			               v > EVALD_CALIBRATION_GROUPS_MAX || v != floor(v)))
				return usage_error(
				        "--calibration: '%s' is not a number of groups from "
				        "1 to %d",
				        optarg, EVALD_CALIBRATION_GROUPS_MAX);
			o.calibration.groups = optarg ? (uint32_t)v : 10;
			break;
		case 'S':
			if (strcmp(optarg, "uniform") != 0 && strcmp(optarg, "quantile") != 0)
				return usage_error(
				        "--strategy: '%s' is neither uniform nor quantile", optarg);
			o.calibration.strategy = strcmp(optarg, "quantile") == 0
			                                 ? EVALD_CALIBRATION_QUANTILE
			                                 : EVALD_CALIBRATION_UNIFORM;
			strategy = true;
			break;
		case 'R':
			if (evald_stream_name_check(optarg, strlen(optarg)) != 0)
				return usage_error("--reference-stream: '%s' is not a stream name",
				                   optarg);
			o.ref_stream = optarg;
			break;
		case 'W':
			o.ref_window = optarg;
			break;
		case 'c':
			o.curve = true;
			break;
		case 'j':
			o.json = true;
			break;
		case 'b':
			if (!parse_double(optarg, &v) || v < 1 || v > 100000 || v != floor(v))
				return usage_error(
				        "--batch: '%s' is not an integer from 1 to 100000", optarg);
			o.batch = (size_t)v;
			break;
		case 'P':
		case 'L':
			if (o.kind != RECORDS_OBSERVE)
				return usage_error("%s",
				                   "--predictions and --labels exclude each other");
			o.kind = opt == 'P' ? RECORDS_PREDICTIONS : RECORDS_LABELS;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind == argc)
		return usage_error("%s", "no command given");
	cmd = argv[optind++];
	if (strcmp(cmd, "send") == 0 && optind < argc)
		o.file = argv[optind++];
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (strcmp(cmd, "send") != 0 && strcmp(cmd, "snapshot") != 0 &&
	    strcmp(cmd, "streams") != 0 && strcmp(cmd, "reset") != 0 && strcmp(cmd, "stats") != 0 &&
	    strcmp(cmd, "ping") != 0 && strcmp(cmd, "drift") != 0)
		return usage_error("unknown command '%s'", cmd);
	if (o.kind != RECORDS_OBSERVE && strcmp(cmd, "send") != 0)
		return usage_error("--%s goes with send",
		                   o.kind == RECORDS_LABELS ? "labels" : "predictions");
	if (strategy && !o.calibration.groups)
		return usage_error("%s", "--strategy goes with --calibration");
	if (o.calibration.groups && strcmp(cmd, "snapshot") != 0)
		return usage_error("%s", "--calibration goes with snapshot");
	if (strcmp(cmd, "reset") == 0 && !o.stream)
		return usage_error("%s", "reset needs --stream");
	if (strcmp(cmd, "drift") == 0 && !o.ref_stream && !o.ref_window)
		return usage_error("%s",
		                   "drift needs --reference-stream, --reference-window or both");
	if (evald_client_connect(&c, o.connect, err, sizeof(err)) != 0) {
		fprintf(stderr, "evalctl: %s\n", err);
		return EXIT_USAGE;
	}
	rc = authenticate(&c, o.token_file);
	if (rc == 0)
		rc = strcmp(cmd, "send") == 0 ? send_command(&c, &o) : simple_command(&c, cmd, &o);
	evald_client_close(&c);
	return rc;
}
