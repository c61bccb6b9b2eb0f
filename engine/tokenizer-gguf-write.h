/* tokenizer-gguf-write.h: a Hugging Face tokenizer (tokenizer.json, tokenizer_config.json) as the
 * tokenizer.ggml.* metadata of a GGUF file, as llama.cpp's converter writes them. */
#ifndef DS_TOKENIZER_GGUF_WRITE_H
#define DS_TOKENIZER_GGUF_WRITE_H

#include <stddef.h>

struct gguf_writer;

/* Adds to w the tokenizer of dir: tokenizer.ggml.model ("gpt2"), .pre (the name of the known
 * pre-tokenizer whose regexes, translated, equal the file's), .tokens and .token_type for every id
 * 0..vocab_size-1 (an id the tokenizer lacks is "[PAD<id>]" of type UNUSED, an added special token
 * CONTROL, another added token USER_DEFINED), .merges, .bos_token_id and .eos_token_id (when
 * >= 0), .add_bos_token/.add_eos_token and tokenizer.chat_template from tokenizer_config.json.
 * Returns 0, or -1 with one sentence in err naming the file (w may then hold some of the keys). */
int tok_gguf_write_metadata(const char *dir, int vocab_size, int bos_id, int eos_id, struct gguf_writer *w,
			    char *err, size_t errlen);

#endif
