/* test-config.c: config.yaml (missing, full, mistakes) and the model precedence: --model, then
 * config, then $DSCODER_MODEL, then the bundled demo model. */
#include "store-test.h"

#include "config.h"
#include "paths.h"

static char cfg_path[4400];

static void write_config(const char *text)
{
	ts_write(cfg_path, text, strlen(text));
}

static void test_missing(void)
{
	struct config cfg;
	char err[1024], path[4400];

	TS_CHECK(config_load(&cfg, NULL, err, sizeof(err)) == 0, "no config file is an error: %s", err);
	TS_CHECK(cfg.path == NULL && cfg.model == NULL && cfg.threads == 0, "defaults not empty");
	config_free(&cfg);
	snprintf(path, sizeof(path), "%s/elsewhere.yaml", ts_home);
	TS_CHECK(config_load(&cfg, path, err, sizeof(err)) == -1 && strstr(err, path) != NULL,
		 "a missing file given explicitly: \"%s\"", err);
	config_free(&cfg);
}

static void test_full(void)
{
	struct config cfg;
	char err[1024], want[4400];

	write_config("# my settings\nmodel: models/lite\nengine: ~/bin/dscoder-engine\ntheme: gruvbox\n"
		     "profile: reviewer\nthreads: 8\nctx: 16384\nbackend: cuda\n");
	TS_REQUIRE(config_load(&cfg, NULL, err, sizeof(err)) == 0, "full config: %s", err);
	TS_CHECK(cfg.path != NULL && strcmp(cfg.path, cfg_path) == 0, "path %s", cfg.path);
	snprintf(want, sizeof(want), "%s/config/dscoder-tui/models/lite", ts_home);
	TS_CHECK(cfg.model && strcmp(cfg.model, want) == 0, "relative model %s, expected %s", cfg.model, want);
	snprintf(want, sizeof(want), "%s/bin/dscoder-engine", ts_home);
	TS_CHECK(cfg.engine && strcmp(cfg.engine, want) == 0, "engine %s, expected %s", cfg.engine, want);
	TS_CHECK(cfg.theme && strcmp(cfg.theme, "gruvbox") == 0, "theme %s", cfg.theme);
	TS_CHECK(cfg.profile && strcmp(cfg.profile, "reviewer") == 0, "profile %s", cfg.profile);
	TS_CHECK(cfg.threads == 8 && cfg.ctx == 16384, "threads %d ctx %d", cfg.threads, cfg.ctx);
	TS_CHECK(cfg.backend && strcmp(cfg.backend, "cuda") == 0, "backend %s", cfg.backend);
	config_free(&cfg);

	write_config("gpus: 8\ndevices: \"0,2,13\"\nengine_args: [--dtype, f32, \"--simulate-ranks\", 2]\n");
	TS_REQUIRE(config_load(&cfg, NULL, err, sizeof(err)) == 0, "gpus, devices, engine_args: %s", err);
	TS_CHECK(cfg.gpus == 8 && cfg.devices && strcmp(cfg.devices, "0,2,13") == 0, "gpus %d devices %s", cfg.gpus,
		 cfg.devices);
	TS_CHECK(cfg.n_engine_args == 4 && strcmp(cfg.engine_args[0], "--dtype") == 0 &&
		 strcmp(cfg.engine_args[3], "2") == 0, "engine_args: %d of them", cfg.n_engine_args);
	config_free(&cfg);

	write_config("engine: dscoder-engine-dev\n");
	TS_CHECK(config_load(&cfg, NULL, err, sizeof(err)) == 0 && cfg.engine && strcmp(cfg.engine, "dscoder-engine-dev") == 0,
		 "a bare engine command should stay for the PATH search: %s", cfg.engine ? cfg.engine : err);
	config_free(&cfg);
	write_config("# only comments\n");
	TS_CHECK(config_load(&cfg, NULL, err, sizeof(err)) == 0 && cfg.model == NULL, "comments-only file: %s", err);
	config_free(&cfg);
	write_config("model: /abs/model\ntheme: ~\n");
	TS_CHECK(config_load(&cfg, NULL, err, sizeof(err)) == 0 && cfg.model && strcmp(cfg.model, "/abs/model") == 0 &&
		 cfg.theme == NULL, "absolute model / null theme: %s", err);
	config_free(&cfg);
}

static void test_errors(void)
{
	static const struct { const char *text, *want1, *want2; } bad[] = {
		{ "modle: /x\n", "config.yaml:1:", "did you mean \"model\"" },
		{ "theme: dark\nthreads: lots\n", "config.yaml:2:", "threads must be a whole number" },
		{ "ctx: -5\n", "config.yaml:1:", "ctx" },
		{ "model: [a, b]\n", "config.yaml:1:", "model must be text" },
		{ "engine:\n  path: /x\n", "config.yaml:2:", "engine must be text" },
		{ "theme: dark\ntheme: light\n", "config.yaml:2:", "twice" },
		{ "model: \"unterminated\n", "config.yaml:", "not valid YAML" },
		{ "just text\n", "config.yaml:1:", "mapping" },
		{ "model: caf\xe9\n", "config.yaml:1:", "UTF-8" },
		{ "devices: 0,,1\n", "config.yaml:1:", "devices must be GPU numbers joined by commas" },
		{ "devices: gpu0\n", "config.yaml:1:", "devices must be GPU numbers" },
		{ "devices: 0,4096\n", "config.yaml:1:", "devices must be GPU numbers" },
		{ "devices: 1,\n", "config.yaml:1:", "devices must be GPU numbers" },
		{ "engine_args: --gpus 2\n", "config.yaml:1:", "engine_args must be a list" },
		{ "engine_args: [[a]]\n", "config.yaml:1:", "an item of engine_args must be text" },
		{ "gpus: -1\n", "config.yaml:1:", "gpus" },
	};
	struct config cfg;
	char err[1024];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_config(bad[i].text);
		err[0] = '\0';
		TS_CHECK(config_load(&cfg, NULL, err, sizeof(err)) == -1, "config %zu loaded although it is wrong", i);
		TS_CHECK(strstr(err, bad[i].want1) != NULL && strstr(err, bad[i].want2) != NULL,
			 "config %zu: message \"%s\" lacks \"%s\" or \"%s\"", i, err, bad[i].want1, bad[i].want2);
		TS_CHECK(cfg.model == NULL && cfg.path == NULL, "config %zu: half-filled struct after an error", i);
		config_free(&cfg);
	}
}

/* remote: a team server or a hosted API; the key stays out of the struct, only where it is. */
static void test_remote(void)
{
	struct config cfg;
	char err[1024], want[4400];

	write_config("model: /m\nremote:\n  url: https://gpu.example.org:8080/v1\n  model: deepseek-coder\n"
		     "  api_key_file: keys/team\n");
	TS_REQUIRE(config_load(&cfg, NULL, err, sizeof(err)) == 0, "remote with a key file: %s", err);
	TS_CHECK(cfg.remote.url && strcmp(cfg.remote.url, "https://gpu.example.org:8080/v1") == 0, "url %s",
		 cfg.remote.url);
	TS_CHECK(cfg.remote.model && strcmp(cfg.remote.model, "deepseek-coder") == 0, "model %s", cfg.remote.model);
	snprintf(want, sizeof(want), "%s/config/dscoder-tui/keys/team", ts_home);
	TS_CHECK(cfg.remote.api_key_file && strcmp(cfg.remote.api_key_file, want) == 0,
		 "relative api_key_file %s, expected %s", cfg.remote.api_key_file, want);
	TS_CHECK(cfg.remote.api_key_env == NULL, "api_key_env %s", cfg.remote.api_key_env);
	config_free(&cfg);

	write_config("remote:\n  url: http://localhost:8000\n  api_key_env: DEEPSEEK_API_KEY\n");
	TS_REQUIRE(config_load(&cfg, NULL, err, sizeof(err)) == 0, "remote with a key variable: %s", err);
	TS_CHECK(cfg.remote.api_key_env && strcmp(cfg.remote.api_key_env, "DEEPSEEK_API_KEY") == 0 &&
		 cfg.remote.model == NULL && cfg.remote.api_key_file == NULL, "api_key_env %s", cfg.remote.api_key_env);
	config_free(&cfg);

	/* DeepSeek's API: fill-in-the-middle at its beta address */
	write_config("remote:\n  url: https://api.deepseek.com\n  fim_url: https://api.deepseek.com/beta\n");
	TS_REQUIRE(config_load(&cfg, NULL, err, sizeof(err)) == 0, "remote with a fim_url: %s", err);
	TS_CHECK(cfg.remote.fim_url && strcmp(cfg.remote.fim_url, "https://api.deepseek.com/beta") == 0, "fim_url %s",
		 cfg.remote.fim_url);
	struct config_remote copy;
	config_remote_copy(&copy, &cfg.remote);
	TS_CHECK(copy.fim_url && strcmp(copy.fim_url, cfg.remote.fim_url) == 0 && copy.fim_url != cfg.remote.fim_url,
		 "a copy owns its fim_url");
	config_remote_free(&copy);
	config_free(&cfg);

	write_config("remote: ~\ntheme: light\n");
	TS_CHECK(config_load(&cfg, NULL, err, sizeof(err)) == 0 && cfg.remote.url == NULL, "remote: ~ is no remote: %s",
		 err);
	config_free(&cfg);

	static const struct { const char *text, *want1, *want2; } bad[] = {
		{ "remote:\n  url: ftp://x\n", "config.yaml:2:", "remote url must start with http:// or https://" },
		{ "remote:\n  model: m\n", "config.yaml:2:", "remote url is missing" },
		{ "remote:\n  url: https://\n", "config.yaml:2:", "no host" },
		{ "remote:\n  url: https://me:pw@host/v1\n", "config.yaml:2:", "must not hold a user name or password" },
		{ "remote:\n  url: https://h\n  urll: x\n", "config.yaml:3:", "did you mean \"url\"" },
		{ "remote:\n  url: [a]\n", "config.yaml:2:", "url must be text" },
		{ "remote:\n  url: https://h\n  model: \"\"\n", "config.yaml:3:", "remote model is empty" },
		{ "remote:\n  url: https://h\n  api_key_env: sk-12345secret\n", "config.yaml:3:",
		  "must name an environment variable" },
		{ "remote:\n  url: https://h\n  api_key_env: K\n  api_key_file: /k\n", "config.yaml:3:",
		  "api_key_env and api_key_file are both set" },
		{ "remote: https://h\n", "config.yaml:1:", "remote must be a mapping" },
		{ "remote:\n  url: https://h\n  fim_url: h/beta\n", "config.yaml:3:",
		  "remote fim_url must start with http:// or https://" },
		{ "remote:\n  url: https://h\n  fim_url: \"\"\n", "config.yaml:3:", "remote fim_url is empty" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_config(bad[i].text);
		err[0] = '\0';
		TS_CHECK(config_load(&cfg, NULL, err, sizeof(err)) == -1, "remote %zu loaded although it is wrong", i);
		TS_CHECK(strstr(err, bad[i].want1) != NULL && strstr(err, bad[i].want2) != NULL,
			 "remote %zu: message \"%s\" lacks \"%s\" or \"%s\"", i, err, bad[i].want1, bad[i].want2);
		TS_CHECK(strstr(err, "secret") == NULL && strstr(err, ":pw@") == NULL,
			 "remote %zu: the message repeats what may be a key: %s", i, err);
		TS_CHECK(cfg.remote.url == NULL && cfg.path == NULL, "remote %zu: half-filled struct after an error", i);
		config_free(&cfg);
	}

	/* The command line's --remote is held to the same rules, in the options' names. */
	struct config_remote r = { .url = "https://h/v1", .api_key_env = "TEAM_KEY" };
	TS_CHECK(config_remote_check_args(&r, err, sizeof(err)) == 0, "good --remote refused: %s", err);
	r.url = "localhost:8000";
	TS_CHECK(config_remote_check_args(&r, err, sizeof(err)) == -1 &&
		 strcmp(err, "--remote must start with http:// or https://") == 0, "bad --remote: %s", err);
	r.url = "http://h";
	r.api_key_env = "not a name";
	TS_CHECK(config_remote_check_args(&r, err, sizeof(err)) == -1 &&
		 strstr(err, "--api-key-env must name an environment variable") == err && strstr(err, "not a name") == NULL,
		 "bad --api-key-env: %s", err);
	r.api_key_env = NULL;
	r.fim_url = "api.deepseek.com/beta";
	TS_CHECK(config_remote_check_args(&r, err, sizeof(err)) == -1 &&
		 strcmp(err, "--remote-fim-url must start with http:// or https://") == 0, "bad --remote-fim-url: %s", err);
	r.fim_url = NULL;
	r.api_key_env = "K";
	r.api_key_file = "/k";
	TS_CHECK(config_remote_check_args(&r, err, sizeof(err)) == -1 &&
		 strcmp(err, "--api-key-env and --api-key-file are both set: the key comes from one of them") == 0,
		 "both key sources: %s", err);
}

static void test_precedence(void)
{
	struct config cfg = { 0 }, empty = { 0 };
	enum config_model_source src;
	bool demo = true;
	char *m, want[4400];

	setenv("DSCODER_DATADIR", "/opt/ds", 1);
	cfg.model = strdup("/from/config");
	setenv("DSCODER_MODEL", "/from/env", 1);

	m = config_resolve_model("/from/arg", &cfg, &demo, &src);
	TS_CHECK(strcmp(m, "/from/arg") == 0 && !demo && src == CONFIG_MODEL_ARG, "--model should win: %s", m);
	free(m);
	m = config_resolve_model(NULL, &cfg, &demo, &src);
	TS_CHECK(strcmp(m, "/from/config") == 0 && !demo && src == CONFIG_MODEL_CONFIG, "config before env: %s", m);
	free(m);
	m = config_resolve_model(NULL, &empty, &demo, &src);
	TS_CHECK(strcmp(m, "/from/env") == 0 && !demo && src == CONFIG_MODEL_ENV, "env before demo: %s", m);
	free(m);
	m = config_resolve_model("", NULL, &demo, &src);
	TS_CHECK(strcmp(m, "/from/env") == 0 && src == CONFIG_MODEL_ENV, "empty --model / NULL config: %s", m);
	free(m);
	unsetenv("DSCODER_MODEL");
	m = config_resolve_model(NULL, &empty, &demo, &src);
	TS_CHECK(strcmp(m, "/opt/ds/models/dscoder-demo") == 0 && demo && src == CONFIG_MODEL_DEMO,
		 "demo model: %s (demo %d)", m, demo);
	TS_CHECK(strcmp(config_model_source_name(src), "demo model") == 0, "source name %s", config_model_source_name(src));
	free(m);
	setenv("DSCODER_MODEL", "", 1);
	m = config_resolve_model(NULL, NULL, &demo, NULL);
	TS_CHECK(demo, "an empty $DSCODER_MODEL should not count: %s", m);
	free(m);
	m = config_resolve_model("~/m", NULL, NULL, NULL);
	snprintf(want, sizeof(want), "%s/m", ts_home);
	TS_CHECK(strcmp(m, want) == 0, "~ in --model: %s", m);
	free(m);
	config_free(&cfg);
}

int main(void)
{
	char *dir, err[512];

	ts_setup();
	dir = paths_config_dir(err, sizeof(err));
	TS_REQUIRE(dir != NULL, "%s", err);
	ts_mkdir(dir);
	snprintf(cfg_path, sizeof(cfg_path), "%s/config.yaml", dir);
	free(dir);
	test_missing();
	test_full();
	test_errors();
	test_remote();
	test_precedence();
	return ts_finish("test-config");
}
