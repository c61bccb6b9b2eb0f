# engine/forward.mk: build fragment (included by Makefile.am).
