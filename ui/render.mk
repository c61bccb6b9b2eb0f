# ui/render.mk: build fragment (included by Makefile.am).
