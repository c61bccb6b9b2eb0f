# engine/local.mk: the model runtime (libengine.a). The tokenizer, loader, forward pass and service
# add their sources from their own fragments (engine/*.mk).
noinst_LIBRARIES += libengine.a
libengine_a_SOURCES = engine/model.h engine/forward.h engine/tokenizer.h \
	engine/sampler.c engine/sampler.h engine/generate.c engine/generate.h engine/prompt.c
libengine_a_CFLAGS = $(AM_CFLAGS) $(PCRE2_CFLAGS) $(JANSSON_CFLAGS) $(UTF8PROC_CFLAGS)
