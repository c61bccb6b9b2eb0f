# engine/tokenizer.mk: build fragment (included by Makefile.am).
