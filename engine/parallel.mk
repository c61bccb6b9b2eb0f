# engine/parallel.mk: build fragment (included by Makefile.am): tensor/expert parallelism: the partition
# plan and its memory accounting, rank shards, and their tests.
libengine_a_SOURCES += engine/plan.c engine/plan.h engine/shard.c engine/shard.h \
	engine/simulate.c engine/simulate.h engine/rendezvous.c engine/rendezvous.h \
	engine/net-ranks.c engine/net-ranks.h

PARALLEL_TEST_LIBS = libengine.a libkernels.a libdscommon.a $(PCRE2_LIBS) $(JANSSON_LIBS) \
	$(PTHREAD_LIBS) -lm

check_PROGRAMS += tests/test-plan tests/test-rendezvous tests/test-simulate
tests_test_simulate_SOURCES = tests/test-simulate.c tests/fixture-util.c tests/fixture-util.h
tests_test_simulate_LDADD = $(PARALLEL_TEST_LIBS)
tests_test_plan_SOURCES = tests/test-plan.c
tests_test_plan_LDADD = $(PARALLEL_TEST_LIBS)
tests_test_rendezvous_SOURCES = tests/test-rendezvous.c tests/fixture-util.c tests/fixture-util.h
tests_test_rendezvous_LDADD = $(PARALLEL_TEST_LIBS)
TESTS += tests/test-plan tests/test-rendezvous tests/test-simulate

# dscoder-engine --plan (engine/cmd-plan.c: the command line's part of it)
dscoder_engine_SOURCES += engine/cmd-plan.c

include kernels/cuda-nccl.mk

# the MULTIPLE GPUS section of dscoder-engine(1), pasted into the page by the lead

# the command line: --simulate-ranks on the real engine, --plan
TESTS += tests/simulate-cli.sh
dist_check_SCRIPTS += tests/simulate-cli.sh
# --nodes N: processes on this machine joined over TCP (engine/net-ranks.c)
TESTS += tests/nodes-cli.sh
dist_check_SCRIPTS += tests/nodes-cli.sh

# --simulate-ranks and --gpus for the verbs (engine/cmd-ranks.c), --nodes (engine/cmd-nodes.c)
dscoder_engine_SOURCES += engine/cmd-ranks.c engine/cmd-nodes.c
# the NCCL path's check on a GPU machine (run by hand or from tests/gpu/device-check.sh)
EXTRA_DIST += tests/gpu/parallel-check.sh
