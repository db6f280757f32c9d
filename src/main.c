/* evald: the streaming evaluator daemon. */
#define _DEFAULT_SOURCE
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include <evald/config.h>
#include <evald/error.h>
#include <evald/log.h>
#include <evald/server.h>

static const char usage[] =
        "usage: evald [--config FILE] [--listen HOST:PORT] [--unix PATH] [--http HOST:PORT] "
        "[--log-level LEVEL] "
        "[--clock manual]\n"
        "             [--discard-bad-state] [--check-config [FILE]] [--version] [--help]\n"
        "  --config FILE       read settings from an INI file (see conf/evald.ini)\n"
        "  --listen HOST:PORT  TCP address (default 127.0.0.1:7390); '' turns TCP off\n"
        "  --unix PATH         Unix socket (default evald.sock); '' turns it off\n"
        "  --http HOST:PORT    HTTP for /metrics and JSON (default 127.0.0.1:7391); '' = off\n"
        "  --log-level LEVEL   debug, info, warn or error (default info)\n"
        "  --clock manual      for tests: time stands still until an advance_clock request\n"
        "  --discard-bad-state move a state file that cannot be restored aside and start empty\n"
        "  --check-config [FILE]  check FILE (or --config), print the effective configuration\n"
        "                      and exit: 0 if it is valid, 2 naming the line and key if not\n"
        "Flags override the configuration file.\n";

struct flags {
	const char *config, *listen, *unix_path, *log_level, *http;
	bool check; /* --check-config */
	struct evald_server_options opts;
};

/* 0 to go on, 1 to exit 0 (--help, --version), 2 on a usage error. */
static int parse_flags(int argc, char **argv, struct flags *f)
{
	static const struct option longopts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"listen", required_argument, NULL, 'l'},
	        {"unix", required_argument, NULL, 'u'},
	        {"log-level", required_argument, NULL, 'L'},
	        {"clock", required_argument, NULL, 'K'},
	        {"http", required_argument, NULL, 'H'},
	        {"discard-bad-state", no_argument, NULL, 'D'},
	        {"check-config", no_argument, NULL, 'C'},
	        {"version", no_argument, NULL, 'V'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			f->config = optarg;
			break;
		case 'l':
			f->listen = optarg;
			break;
		case 'u':
			f->unix_path = optarg;
			break;
		case 'L':
			f->log_level = optarg;
			break;
		case 'K':
			if (strcmp(optarg, "manual") != 0 && strcmp(optarg, "system") != 0) {
				fprintf(stderr, "evald: --clock: '%s' is not system or manual\n",
				        optarg);
				return 2;
			}
			f->opts.manual_clock = strcmp(optarg, "manual") == 0;
			break;
		case 'H':
			f->http = optarg;
			break;
		case 'D':
			f->opts.discard_bad_state = true;
			break;
		case 'C':
			f->check = true;
			break;
		case 'V':
			printf("evald %s\n", EVALD_VERSION);
			return 1;
		case 'h':
			fputs(usage, stdout);
			return 1;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (f->check && optind + 1 == argc)
		f->config = argv[optind++];
	if (optind != argc) {
		fprintf(stderr, "evald: unexpected argument '%s'\n%s", argv[optind], usage);
		return 2;
	}
	return 0;
}

/* Applies the flags over the configuration; 2 and a message if one is bad. */
static int apply_flags(const struct flags *f, struct evald_server_config *cfg)
{
	const struct {
		const char *flag, *value, *section, *key;
	} set[] = {
	        {"--listen", f->listen, "server", "listen"},
	        {"--unix", f->unix_path, "server", "unix"},
	        {"--http", f->http, "http", "listen"},
	        {"--log-level", f->log_level, "server", "log_level"},
	};
	char err[512];

	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
		if (set[i].value && evald_server_config_set(cfg, set[i].section, set[i].key,
		                                            set[i].value, err, sizeof(err)) != 0) {
			fprintf(stderr, "evald: %s: %s\n", set[i].flag, err);
			return 2;
		}
	return 0;
}

int main(int argc, char **argv)
{
	struct evald_server_config cfg;
	struct flags flags = {0};
	evald_server *server = NULL;
	uv_loop_t loop;
	char err[1024];
	int rc;

	rc = parse_flags(argc, argv, &flags);
	if (rc)
		return rc == 1 ? 0 : 2;
	if (evald_server_config_init(&cfg) != 0) {
		fprintf(stderr, "evald: the built-in defaults do not parse\n");
		return 2;
	}
	if (flags.config && evald_server_config_load(&cfg, flags.config, err, sizeof(err)) != 0) {
		fprintf(stderr, "evald: %s\n", err);
		evald_server_config_destroy(&cfg);
		return 2;
	}
	rc = apply_flags(&flags, &cfg);
	if (rc == 0 && flags.check) {
		evald_server_config_write(&cfg, stdout);
		fprintf(stderr, "evald: %s: the configuration is valid\n",
		        flags.config ? flags.config : "(defaults)");
		rc = fflush(stdout) == 0 ? 0 : 1;
	}
	if (rc || flags.check) {
		evald_server_config_destroy(&cfg);
		return rc;
	}
	evald_log_set_level(cfg.log_level);
	/* A peer that hangs up must not kill the daemon: writes fail with EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);

	if ((rc = uv_loop_init(&loop)) != 0) {
		evald_sys_error(rc, err, sizeof(err), "libuv loop");
		fprintf(stderr, "evald: %s\n", err);
		evald_server_config_destroy(&cfg);
		return 1;
	}
	if ((rc = evald_server_new(&loop, &cfg, &flags.opts, &server, err, sizeof(err))) != 0) {
		evald_log(EVALD_LOG_ERROR, "start_failed", "reason=\"%s\"", err);
		fprintf(stderr, "evald: %s\n", err);
		/* A system failure (address in use) may pass; anything else needs a change. */
		rc = rc == EVALD_ESYS || rc == EVALD_ENOMEM ? 1 : 2;
	} else {
		evald_log(EVALD_LOG_INFO, "started", "version=%s config=%s max_streams=%llu",
		          EVALD_VERSION, flags.config ? flags.config : "(defaults)",
		          (unsigned long long)cfg.max_streams);
		uv_run(&loop, UV_RUN_DEFAULT);
		evald_server_free(server);
		evald_log(EVALD_LOG_INFO, "stopped", NULL);
	}
	if (uv_loop_close(&loop) != 0) {
		evald_log(EVALD_LOG_ERROR, "unclean_exit", "reason=\"handles left open\"");
		rc = 1;
	}
	evald_server_config_destroy(&cfg);
	return rc;
}
