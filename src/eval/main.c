/*
 * evald-eval: reads label,score[,weight] records, feeds them to one
 * evald stream and prints its snapshot as JSON. The engine without the
 * daemon: for trying bin settings, and as the reference tests' driver.
 */
#define _DEFAULT_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <evald/error.h>
#include <evald/metrics.h>
#include <evald/wire.h>
#include <evald/json.h>

#include "records.h"

#define REQUESTS_MAX 256

struct options {
	struct evald_config cfg;
	bool thresholds_given;
	bool curve, edges;
	size_t nat, nprec, nrec;
	double at[REQUESTS_MAX];           /* extra thresholds for the snapshot */
	double at_recall[REQUESTS_MAX];    /* --precision-at-recall */
	double at_precision[REQUESTS_MAX]; /* --recall-at-precision */
};

static const char usage[] =
        "usage: evald-eval [options] < records.csv\n"
        "Reads label,score[,weight] lines and prints the snapshot as JSON.\n"
        "  --bins N                    bins (default 1000)\n"
        "  --range LO,HI               outer bin edges (default 0,1)\n"
        "  --spacing uniform|logit     bin spacing (default uniform)\n"
        "  --logit-limits A,B          log-odds of the first and last edge (default -12,12)\n"
        "  --threshold T               a threshold counted exactly at ingest (repeatable;\n"
        "                              default 0.5)\n"
        "  --at T                      also report the confusion at T (repeatable)\n"
        "  --precision-at-recall R     best precision with recall >= R (repeatable)\n"
        "  --recall-at-precision P     best recall with precision >= P (repeatable)\n"
        "  --curve                     include the PR/ROC curve\n"
        "  --edges                     include the bin edges\n"
        "  --help                      this text\n";

static bool parse_double(const char *s, double *out)
{
	char *end;

	*out = strtod(s, &end);
	return end != s && *end == '\0';
}

static bool parse_pair(const char *s, double *a, double *b)
{
	char buf[128], *comma;

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	comma = strchr(buf, ',');
	if (!comma)
		return false;
	*comma = '\0';
	return parse_double(buf, a) && parse_double(comma + 1, b);
}

/* Appends a rate (0 to 1) to list. */
static bool push_rate(double *list, size_t *n, const char *arg)
{
	double v;

	if (*n == REQUESTS_MAX || !parse_double(arg, &v) || !(v >= 0.0 && v <= 1.0))
		return false;
	list[(*n)++] = v;
	return true;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
	        {"bins", required_argument, NULL, 'b'},
	        {"range", required_argument, NULL, 'r'},
	        {"spacing", required_argument, NULL, 's'},
	        {"logit-limits", required_argument, NULL, 'l'},
	        {"threshold", required_argument, NULL, 't'},
	        {"at", required_argument, NULL, 'a'},
	        {"precision-at-recall", required_argument, NULL, 'R'},
	        {"recall-at-precision", required_argument, NULL, 'P'},
	        {"curve", no_argument, NULL, 'c'},
	        {"edges", no_argument, NULL, 'e'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	int c, idx = 0;

	o->cfg = evald_config_default;
	while ((c = getopt_long(argc, argv, "", longopts, &idx)) != -1) {
		bool ok = true;
		double v;
		switch (c) {
		case 'b':
			ok = parse_double(optarg, &v) && v >= 1 && v <= EVALD_BINS_MAX &&
			     v == floor(v);
			o->cfg.bins = ok ? (uint32_t)v : 0;
			break;
		case 'r':
			ok = parse_pair(optarg, &o->cfg.lo, &o->cfg.hi);
			break;
		case 's':
			ok = evald_spacing_parse(optarg, &o->cfg.spacing) == 0;
			break;
		case 'l':
			ok = parse_pair(optarg, &o->cfg.logit_lo, &o->cfg.logit_hi);
			break;
		case 't':
			if (!o->thresholds_given)
				o->cfg.nthresholds = 0;
			o->thresholds_given = true;
			ok = o->cfg.nthresholds < EVALD_THRESHOLDS_MAX &&
			     parse_double(optarg, &o->cfg.thresholds[o->cfg.nthresholds++]);
			break;
		case 'a':
			ok = o->nat < EVALD_QUERY_THRESHOLDS_MAX &&
			     parse_double(optarg, &o->at[o->nat++]) && isfinite(o->at[o->nat - 1]);
			break;
		case 'R':
			ok = push_rate(o->at_recall, &o->nrec, optarg);
			break;
		case 'P':
			ok = push_rate(o->at_precision, &o->nprec, optarg);
			break;
		case 'c':
			o->curve = true;
			break;
		case 'e':
			o->edges = true;
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			fputs(usage, stderr);
			return -1;
		}
		if (!ok) {
			fprintf(stderr, "evald-eval: bad value '%s' for --%s\n", optarg,
			        longopts[idx].name);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "evald-eval: unexpected argument '%s'\n%s", argv[optind], usage);
		return -1;
	}
	return 0;
}

/* A JSON number, or null for an undefined (NaN) value. */
static json_t *number(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

static json_t *point_json(const struct evald_point *p)
{
	return json_pack("{s:o, s:o, s:o, s:o}", "threshold", number(p->threshold), "precision",
	                 number(p->precision), "recall", number(p->recall), "f1", number(p->f1));
}

/* Precision at each recall floor, or recall at each precision floor. */
static json_t *operating_points(const evald_hist *s, const double *floors, size_t n,
                                bool floor_on_recall)
{
	json_t *list = json_array();
	struct evald_point p;

	for (size_t i = 0; i < n; i++) {
		if (floor_on_recall)
			evald_hist_precision_at_recall(s, floors[i], &p);
		else
			evald_hist_recall_at_precision(s, floors[i], &p);
		json_array_append_new(list,
		                      json_pack("{s:o, s:o}",
		                                floor_on_recall ? "recall_min" : "precision_min",
		                                number(floors[i]), "point", point_json(&p)));
	}
	return list;
}

/*
 * The snapshot as the daemon would send it (the same encoder, turned into
 * JSON), with the operating-point queries and, if asked, the edges.
 */
static json_t *snapshot_json(const evald_hist *s, const struct options *o)
{
	struct evald_snapshot snap = {.stream = "eval",
	                              .window = "total",
	                              .s = s,
	                              .thresholds = o->at,
	                              .nthresholds = o->nat,
	                              .curve = o->curve};
	msgpack_sbuffer sb;
	msgpack_packer pk;
	json_t *root;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	evald_reply_snapshot(&pk, NULL, &snap);
	root = evald_packed_to_json(sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	if (!root)
		return NULL;
	json_object_set_new(root, "precision_at_recall",
	                    operating_points(s, o->at_recall, o->nrec, true));
	json_object_set_new(root, "recall_at_precision",
	                    operating_points(s, o->at_precision, o->nprec, false));
	if (o->edges) {
		const struct evald_config *cfg = evald_hist_config(s);
		json_t *edges = json_array();
		for (uint32_t k = 0; k <= cfg->bins; k++)
			json_array_append_new(edges, json_real(evald_hist_edge(s, k)));
		json_object_set_new(root, "edges", edges);
	}
	return root;
}

int main(int argc, char **argv)
{
	static struct options o;
	struct records_reader reader;
	struct text_record rec;
	evald_hist *s = NULL;
	char why[256];
	json_t *root;
	int err, rc = 2, got;

	if (parse_options(argc, argv, &o) != 0)
		return 2;
	err = evald_hist_new(NULL, &o.cfg, &s);
	if (err) {
		fprintf(stderr, "evald-eval: bad bin configuration: %s\n", evald_strerror(err));
		return 2;
	}
	records_reader_init(&reader, stdin, RECORDS_OBSERVE);
	while ((got = records_reader_next(&reader, &rec, why, sizeof(why))) > 0) {
		err = evald_hist_observe(s, rec.label, rec.score, rec.weight);
		if (err) {
			fprintf(stderr, "evald-eval: line %lu: %s\n", reader.lineno,
			        evald_strerror(err));
			goto done;
		}
	}
	if (got < 0) {
		fprintf(stderr, "evald-eval: line %lu: %s\n", reader.lineno, why);
		goto done;
	}
	root = snapshot_json(s, &o);
	rc = root && json_dumpf(root, stdout, JSON_REAL_PRECISION(17) | JSON_COMPACT) == 0 ? 0 : 1;
	if (rc == 0)
		putchar('\n');
	json_decref(root);
done:
	records_reader_destroy(&reader);
	evald_hist_free(s);
	return rc;
}
