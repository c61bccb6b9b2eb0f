# engine/loader.mk: build fragment (included by Makefile.am).
