# engine/serve.mk: build fragment (included by Makefile.am).
