/* tui-main.c: dscoder-tui, the terminal chat: options, configuration, then the event loop. */
#include "build-config.h"
#include <getopt.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "paths.h"
#include "profile.h"
#include "xalloc.h"
#include "../ui/app.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: dscoder-tui [OPTION]...\n"
		"A terminal chat with a DeepSeek-Coder-V2 model run by dscoder-engine.\n"
		"\n"
		"  --model DIR           model directory (default: config.yaml, $DSCODER_MODEL, the demo model)\n"
		"  --profile NAME        profile for new conversations (system prompt, mode, sampling)\n"
		"  --theme NAME          colour theme (default, light, gruvbox, monochrome, or a file)\n"
		"  --load FILE           open a saved conversation\n"
		"  --engine PATH         the dscoder-engine program to run\n"
		"  --remote URL          chat through an OpenAI-compatible server instead of a model here\n"
		"  --remote-model NAME   the server's model (default: the server's choice)\n"
		"  --remote-fim-url URL  fill-in-the-middle goes here instead (https://api.deepseek.com/beta)\n"
		"  --api-key-env VAR     the server's key is in this environment variable\n"
		"  --api-key-file FILE   or in this file\n"
		"  --config FILE         settings file (default $XDG_CONFIG_HOME/dscoder-tui/config.yaml)\n"
		"  --help                show this help and exit\n"
		"  --version             show the version and exit\n"
		"\n"
		"Keys: F1 or ? in the running program; all of them in dscoder-tui(1).\n");
}

/* dscoder-engine next to this program (a build tree or an installed bin/), else in $PATH. */
static char *find_engine(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		char *dir = paths_dirname(self);
		char *p = xasprintf("%s/dscoder-engine", dir);
		free(dir);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	const char *path = getenv("PATH");
	if (path) {
		char *copy = xstrdup(path), *save = NULL;
		for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			char *p = xasprintf("%s/dscoder-engine", *d ? d : ".");
			if (access(p, X_OK) == 0) {
				free(copy);
				return p;
			}
			free(p);
		}
		free(copy);
	}
	return xstrdup("dscoder-engine");
}

int main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	/* ncursesw draws UTF-8 only under a UTF-8 locale; the transcript is UTF-8 whatever the
	 * user's locale says, so fall back to C.UTF-8 rather than show mojibake. */
	if (strcasecmp(nl_langinfo(CODESET), "UTF-8") != 0 && !setlocale(LC_CTYPE, "C.UTF-8"))
		setlocale(LC_CTYPE, "en_US.UTF-8");

	enum { OPT_MODEL = 256, OPT_PROFILE, OPT_THEME, OPT_LOAD, OPT_ENGINE, OPT_CONFIG, OPT_HELP,
	       OPT_VERSION, OPT_BENCH, OPT_REMOTE, OPT_REMOTE_MODEL, OPT_REMOTE_FIM_URL, OPT_KEY_ENV, OPT_KEY_FILE };
	static const struct option longopts[] = {
		{ "model", required_argument, NULL, OPT_MODEL },
		{ "profile", required_argument, NULL, OPT_PROFILE },
		{ "theme", required_argument, NULL, OPT_THEME },
		{ "load", required_argument, NULL, OPT_LOAD },
		{ "engine", required_argument, NULL, OPT_ENGINE },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "bench-render", required_argument, NULL, OPT_BENCH },
		{ "remote", required_argument, NULL, OPT_REMOTE },
		{ "remote-model", required_argument, NULL, OPT_REMOTE_MODEL },
		{ "remote-fim-url", required_argument, NULL, OPT_REMOTE_FIM_URL },
		{ "api-key-env", required_argument, NULL, OPT_KEY_ENV },
		{ "api-key-file", required_argument, NULL, OPT_KEY_FILE },
		{ NULL, 0, NULL, 0 }
	};
	const char *model = NULL, *profile = NULL, *theme = NULL, *load = NULL, *engine = NULL;
	const char *config_path = NULL, *bench = NULL;
	/* The command line's server is whole by itself: a key configured for another server is never
	 * sent to this one. */
	struct config_remote remote = { 0 };
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_MODEL: model = optarg; break;
		case OPT_PROFILE: profile = optarg; break;
		case OPT_THEME: theme = optarg; break;
		case OPT_LOAD: load = optarg; break;
		case OPT_ENGINE: engine = optarg; break;
		case OPT_CONFIG: config_path = optarg; break;
		case OPT_BENCH: bench = optarg; break;
		case OPT_REMOTE: remote.url = optarg; break;
		case OPT_REMOTE_MODEL: remote.model = optarg; break;
		case OPT_REMOTE_FIM_URL: remote.fim_url = optarg; break;
		case OPT_KEY_ENV: remote.api_key_env = optarg; break;
		case OPT_KEY_FILE: remote.api_key_file = optarg; break;
		case OPT_HELP: usage(stdout); return 0;
		case OPT_VERSION: printf("dscoder-tui %s\n", PACKAGE_VERSION); return 0;
		default:
			fprintf(stderr, "Try 'dscoder-tui --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dscoder-tui: unexpected argument '%s'; try 'dscoder-tui --help'.\n",
			argv[optind]);
		return 2;
	}
	char err[1024];
	if (!remote.url && (remote.model || remote.fim_url || remote.api_key_env || remote.api_key_file)) {
		fprintf(stderr, "dscoder-tui: --remote-model, --remote-fim-url, --api-key-env and --api-key-file go with "
			"--remote URL.\n");
		return 2;
	}
	if (remote.url && config_remote_check_args(&remote, err, sizeof err) < 0) {
		fprintf(stderr, "dscoder-tui: %s\n", err);
		return 2;
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "dscoder-tui: needs a terminal on stdin and stdout.\n");
		return 1;
	}

	struct config cfg;
	if (config_load(&cfg, config_path, err, sizeof err) < 0) {
		fprintf(stderr, "dscoder-tui: %s\n", err);
		return 1;
	}
	bool is_demo = false;
	char *model_dir = config_resolve_model(model, &cfg, &is_demo, NULL);
	char *engine_path = engine ? xstrdup(engine) : cfg.engine ? xstrdup(cfg.engine) : find_engine();

	struct app_options opt = {
		.model = model_dir,
		.is_demo = is_demo,
		.engine_path = engine_path,
		.profile = profile ? profile : cfg.profile ? cfg.profile : PROFILE_DEFAULT,
		.profile_explicit = profile != NULL || cfg.profile != NULL,
		.theme = theme ? theme : cfg.theme,
		.load = load,
		.threads = cfg.threads,
		.ctx = cfg.ctx,
		.backend = cfg.backend,
		.gpus = cfg.gpus,
		.devices = cfg.devices,
		.engine_args = cfg.engine_args,
		.n_engine_args = cfg.n_engine_args,
		.remote = remote.url ? &remote : NULL,
		.bench_render = bench,
	};
	int rc = app_run(&opt, &cfg);
	free(model_dir);
	free(engine_path);
	config_free(&cfg);
	return rc;
}
