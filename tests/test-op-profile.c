/* test-op-profile.c: the --bench --profile timers: off they record nothing, nested classes split the
 * time between them (the inner pauses the outer) and add up to the whole, reset zeroes them. */
#include "build-config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "op-profile.h"
#include "fixture-util.h"

static void spin(double s)
{
	double t0 = clock_now();
	while (clock_now() - t0 < s)
		;
}

/* a backend's synchronisation that takes 1 ms: the class that waits for it is charged */
static int syncs;
static void slow_sync(void *arg)
{
	syncs += *(int *)arg;
	spin(0.001);
}

int main(void)
{
	ds_prof_begin(DS_PROF_EXPERTS);
	spin(0.001);
	ds_prof_end(DS_PROF_EXPERTS);
	CHECK(ds_prof_seconds(DS_PROF_EXPERTS) == 0, "profiling off recorded %g s", ds_prof_seconds(DS_PROF_EXPERTS));

	ds_prof_enable(true);
	ds_prof_reset();
	double t0 = clock_now();
	ds_prof_begin(DS_PROF_EXPERTS);
	spin(0.002);
	ds_prof_begin(DS_PROF_SHARED);
	spin(0.002);
	ds_prof_end(DS_PROF_SHARED);
	spin(0.001);
	ds_prof_end(DS_PROF_EXPERTS);
	double whole = clock_now() - t0;
	double e = ds_prof_seconds(DS_PROF_EXPERTS), s = ds_prof_seconds(DS_PROF_SHARED);
	CHECK(s >= 0.002 && e >= 0.003, "inner %g s (spun 0.002), outer %g s (spun 0.003)", s, e);
	CHECK(e + s <= whole, "classes %g s of %g s", e + s, whole);
	for (int c = 0; c < DS_PROF_N; c++)
		if (c != DS_PROF_EXPERTS && c != DS_PROF_SHARED)
			CHECK(ds_prof_seconds((enum ds_prof_class)c) == 0, "%s got time", ds_prof_name((enum ds_prof_class)c));
	/* an end without a begin (switched on midway) is ignored */
	ds_prof_end(DS_PROF_HEAD);
	CHECK(ds_prof_seconds(DS_PROF_HEAD) == 0, "an unmatched end recorded time");
	ds_prof_reset();
	CHECK(ds_prof_seconds(DS_PROF_EXPERTS) == 0 && ds_prof_seconds(DS_PROF_SHARED) == 0, "reset left time");
	CHECK(ds_prof_name(DS_PROF_SAMPLING) != NULL && ds_prof_name(DS_PROF_N)[0] == '?', "names");
	CHECK(strcmp(ds_prof_name(DS_PROF_MLA), "mla") == 0, "the attention core's name: %s", ds_prof_name(DS_PROF_MLA));
	/* with a sync hook (the GPU's), every begin and end waits for it before reading the clock, so
	 * the work a class queued is charged to it, not to the next one */
	int one = 1;
	ds_prof_set_sync(slow_sync, &one);
	ds_prof_begin(DS_PROF_ATTENTION);
	ds_prof_begin(DS_PROF_MLA);
	ds_prof_end(DS_PROF_MLA);
	ds_prof_end(DS_PROF_ATTENTION);
	CHECK(syncs == 4, "%d syncs for two begin/end pairs", syncs);
	CHECK(ds_prof_seconds(DS_PROF_MLA) >= 0.001 && ds_prof_seconds(DS_PROF_ATTENTION) >= 0.001,
	      "the inner class's sync went to it (mla %g s, attention %g s)", ds_prof_seconds(DS_PROF_MLA),
	      ds_prof_seconds(DS_PROF_ATTENTION));
	ds_prof_set_sync(NULL, NULL);
	ds_prof_enable(false);
	ds_prof_begin(DS_PROF_ATTENTION);
	CHECK(syncs == 4, "profiling off still synchronised");
	if (fix_failures)
		printf("%d checks failed\n", fix_failures);
	return fix_failures ? 1 : 0;
}
