/* test-profile.c: the installed profiles load, user profiles override them, and mistakes in a profile
 * file (typos, wrong types, bad values) give one sentence naming file, line and key. */
#include "store-test.h"

#include "paths.h"
#include "profile.h"

static char user_dir[4300];

static void write_profile(const char *name, const char *text)
{
	char path[4400];

	snprintf(path, sizeof(path), "%s/%s.yaml", user_dir, name);
	ts_write(path, text, strlen(text));
}

static void test_installed(void)
{
	static const struct { const char *name; enum params_mode mode; } want[] = {
		{ "coder", PARAMS_MODE_CHAT }, { "explain", PARAMS_MODE_CHAT }, { "reviewer", PARAMS_MODE_CHAT },
		{ "completion", PARAMS_MODE_COMPLETION }, { "fim", PARAMS_MODE_FIM },
	};
	struct profile_list l;
	char err[1024];

	TS_REQUIRE(profile_list(&l, err, sizeof(err)) == 0, "profile_list: %s", err);
	TS_CHECK(l.n >= 5, "only %zu installed profiles listed", l.n);
	for (size_t i = 0; i < l.n; i++) {
		TS_CHECK(l.v[i].error == NULL, "installed profile %s is broken: %s", l.v[i].name, l.v[i].error);
		TS_CHECK(!l.v[i].user, "installed profile %s marked as the user's", l.v[i].name);
		TS_CHECK(l.v[i].description[0] != '\0', "installed profile %s has no description", l.v[i].name);
		if (i > 0)
			TS_CHECK(strcmp(l.v[i - 1].name, l.v[i].name) < 0, "list not sorted at %s", l.v[i].name);
	}
	profile_list_free(&l);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct profile *p = profile_load(want[i].name, err, sizeof(err));

		TS_CHECK(p != NULL, "installed profile %s: %s", want[i].name, err);
		if (p == NULL)
			continue;
		TS_CHECK(p->mode == want[i].mode, "%s: mode %s", want[i].name, params_mode_name(p->mode));
		TS_CHECK(strcmp(p->name, want[i].name) == 0 && !p->user, "%s: name %s user %d", want[i].name, p->name,
			 p->user);
		TS_CHECK(params_sampling_invalid(&p->sampling) == NULL, "%s: sampling %s invalid", want[i].name,
			 params_sampling_invalid(&p->sampling));
		if (p->mode == PARAMS_MODE_CHAT)
			TS_CHECK(p->system_prompt != NULL && strlen(p->system_prompt) > 20, "%s: no system prompt",
				 want[i].name);
		profile_free(p);
	}
	{
		struct profile *p = profile_load(PROFILE_DEFAULT, err, sizeof(err));

		TS_CHECK(p != NULL && p->sampling.temperature == 0.3 && p->sampling.seed == PARAMS_SEED_RANDOM,
			 "default profile: %s", p ? "wrong sampling" : err);
		profile_free(p);
	}
}

static void test_override(void)
{
	struct profile *p;
	struct profile_list l;
	char err[1024];
	int coder = 0, mine = 0;

	write_profile("coder", "description: my own coder\nsystem_prompt: Answer in haiku.\nsampling:\n"
		      "  temperature: 0.9\n  top_k: 40\n  seed: 42\n");
	write_profile("mine", "name: mine\ndescription: only mine\nmode: completion\n");
	p = profile_load("coder", err, sizeof(err));
	TS_REQUIRE(p != NULL, "user coder: %s", err);
	TS_CHECK(p->user && strcmp(p->description, "my own coder") == 0 && strcmp(p->system_prompt, "Answer in haiku.") == 0,
		 "user profile did not override the installed one: %s", p->description);
	TS_CHECK(p->sampling.temperature == 0.9 && p->sampling.top_k == 40 && p->sampling.seed == 42,
		 "sampling %g %d %lld", p->sampling.temperature, p->sampling.top_k, (long long)p->sampling.seed);
	/* Keys the file leaves out keep the defaults. */
	TS_CHECK(p->sampling.top_p == 0.95 && p->sampling.min_p == 0.05 && p->sampling.max_tokens == 0,
		 "defaults not kept: top_p %g min_p %g", p->sampling.top_p, p->sampling.min_p);
	TS_CHECK(strstr(p->path, user_dir) == p->path, "path %s", p->path);
	profile_free(p);
	TS_REQUIRE(profile_list(&l, err, sizeof(err)) == 0, "%s", err);
	for (size_t i = 0; i < l.n; i++) {
		if (strcmp(l.v[i].name, "coder") == 0) {
			coder++;
			TS_CHECK(l.v[i].user && strcmp(l.v[i].description, "my own coder") == 0, "list: coder is not the user's");
		}
		if (strcmp(l.v[i].name, "mine") == 0)
			mine++;
	}
	TS_CHECK(coder == 1 && mine == 1, "list has coder %d times and mine %d times", coder, mine);
	profile_list_free(&l);
}

static void test_errors(void)
{
	static const struct { const char *name, *text, *want1, *want2; } bad[] = {
		{ "typo", "description: x\nsampling:\n  temprature: 0.5\n", "typo.yaml:3:", "did you mean \"temperature\"" },
		{ "typo2", "descripton: x\n", "typo2.yaml:1:", "\"descripton\"" },
		{ "flat", "temperature: 0.5\n", "flat.yaml:1:", "under \"sampling:\"" },
		{ "topk", "sampling:\n  top_k: many\n", "topk.yaml:2:", "top_k must be a whole number" },
		{ "topp", "sampling:\n  top_p: 1.5\n", "topp.yaml:2:", "top_p is 1.5; it must be above 0 and at most 1" },
		/* issue 10: the profile ranges are the protocol's and the engine's (params_ranges) */
		{ "reppen", "sampling:\n  temperature: 0.7\n  repetition_penalty: 1e-40\n", "reppen.yaml:3:",
		  "repetition_penalty is 1e-40; it must be from 0.01 to 100 (1: off)" },
		{ "hot", "sampling:\n  temperature: 1000\n", "hot.yaml:2:", "temperature is 1000; it must be from 0 to 100" },
		{ "manyk", "sampling:\n  top_k: 2000000\n", "manyk.yaml:2:", "top_k is 2000000; it must be from 0 to 1000000" },
		{ "longmax", "sampling:\n  max_tokens: 2000000000\n", "longmax.yaml:2:",
		  "max_tokens is 2000000000; it must be from 0 to 1000000000" },
		{ "seedneg", "sampling:\n  seed: -5\n", "seedneg.yaml:2:", "seed is -5; it must be from 0 to 9223372036854775807" },
		{ "temp", "sampling:\n  temperature: -1\n", "temp.yaml:2:", "temperature" },
		{ "modelist", "mode: [chat]\n", "modelist.yaml:1:", "mode must be text, not a list" },
		{ "modebad", "mode: instruct\n", "modebad.yaml:1:", "chat, completion or fim" },
		{ "sampnum", "sampling: 5\n", "sampnum.yaml:1:", "must be a mapping" },
		{ "nameclash", "name: other\n", "nameclash.yaml:1:", "other" },
		{ "syntax", "description: x\nsampling:\n  top_k: [1,\n", "syntax.yaml:", "not valid YAML" },
		{ "list", "- a\n- b\n", "list.yaml:1:", "mapping" },
		{ "remoteurl", "remote:\n  url: gpu-box:8000\n", "remoteurl.yaml:2:", "must start with http:// or https://" },
		{ "remotetypo", "remote:\n  url: https://h\n  api_key: x\n", "remotetypo.yaml:3:", "unknown key \"api_key\"" },
		{ "remotescalar", "remote: https://h\n", "remotescalar.yaml:1:", "remote must be \"local\" or a mapping" },
		{ "remotenourl", "remote:\n  model: m\n", "remotenourl.yaml:2:", "remote url is missing" },
		{ "remotekey", "remote:\n  url: https://h\n  api_key_env: sk-live-123\n", "remotekey.yaml:3:",
		  "must name an environment variable" },
	};
	char err[1024];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct profile *p;

		write_profile(bad[i].name, bad[i].text);
		err[0] = '\0';
		p = profile_load(bad[i].name, err, sizeof(err));
		TS_CHECK(p == NULL, "profile %s loaded although it is wrong", bad[i].name);
		profile_free(p);
		TS_CHECK(strstr(err, bad[i].want1) != NULL && strstr(err, bad[i].want2) != NULL,
			 "profile %s: message \"%s\" lacks \"%s\" or \"%s\"", bad[i].name, err, bad[i].want1, bad[i].want2);
	}
	{
		struct profile_list l;
		size_t broken = 0;

		TS_REQUIRE(profile_list(&l, err, sizeof(err)) == 0, "%s", err);
		for (size_t i = 0; i < l.n; i++)
			broken += l.v[i].error != NULL;
		TS_CHECK(broken == sizeof(bad) / sizeof(bad[0]), "%zu broken profiles listed, expected %zu", broken,
			 sizeof(bad) / sizeof(bad[0]));
		profile_list_free(&l);
	}
	TS_CHECK(profile_load("nosuch", err, sizeof(err)) == NULL && strstr(err, "nosuch") != NULL &&
		 strstr(err, user_dir) != NULL && strstr(err, "/profiles/nosuch.yaml") != NULL,
		 "missing profile: \"%s\"", err);
	TS_CHECK(profile_load("../../etc/passwd", err, sizeof(err)) == NULL && strstr(err, "not a profile name") != NULL,
		 "a path as a profile name: \"%s\"", err);
	/* An empty file is a profile with every default. */
	write_profile("empty", "# nothing yet\n");
	{
		struct profile *p = profile_load("empty", err, sizeof(err));

		TS_CHECK(p != NULL && p->mode == PARAMS_MODE_CHAT && p->system_prompt == NULL, "empty profile: %s", err);
		profile_free(p);
	}
}

/* remote: one profile on the team's server, one on the local engine whatever config.yaml says, and
 * one that leaves it to config.yaml. */
static void test_remote(void)
{
	char err[1024], want[4400];
	struct profile *p;

	write_profile("team", "description: the team's GPU box\nremote:\n  url: https://gpu.example.org/v1\n"
		      "  model: deepseek-coder-v2\n  api_key_file: team.key\n");
	p = profile_load("team", err, sizeof(err));
	TS_REQUIRE(p != NULL, "team profile: %s", err);
	snprintf(want, sizeof(want), "%s/team.key", user_dir);
	TS_CHECK(p->remote_set && p->remote.url && strcmp(p->remote.url, "https://gpu.example.org/v1") == 0 &&
		 p->remote.model && strcmp(p->remote.model, "deepseek-coder-v2") == 0, "team remote %s",
		 p->remote.url);
	TS_CHECK(p->remote.api_key_file && strcmp(p->remote.api_key_file, want) == 0,
		 "api_key_file %s, expected %s next to the profile", p->remote.api_key_file, want);
	profile_free(p);

	write_profile("here", "description: the demo model here\nremote: local\n");
	p = profile_load("here", err, sizeof(err));
	TS_CHECK(p != NULL && p->remote_set && p->remote.url == NULL, "remote: local: %s", p ? "not local" : err);
	profile_free(p);

	p = profile_load("coder", err, sizeof(err));
	TS_CHECK(p != NULL && !p->remote_set, "a profile without remote: should leave it to config.yaml");
	profile_free(p);
}

int main(void)
{
	char *cfg, err[512];

	ts_setup();
	setenv("DSCODER_DATADIR", PROFILES_SRCDIR "/..", 1);
	cfg = paths_user_profiles_dir(err, sizeof(err));
	TS_REQUIRE(cfg != NULL, "%s", err);
	snprintf(user_dir, sizeof(user_dir), "%s", cfg);
	free(cfg);
	test_installed();
	ts_mkdir(user_dir);
	test_override();
	test_errors();
	test_remote();
	return ts_finish("test-profile");
}
