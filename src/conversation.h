/* conversation.h: a conversation in memory and as a YAML file under
 * $XDG_DATA_HOME/dscoder-tui/conversations/<id>.yaml (format in dscoder-tui(5)). */
#ifndef DS_CONVERSATION_H
#define DS_CONVERSATION_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "params.h"

#define CONV_FORMAT_VERSION 1
/* Files larger than this are refused by conv_load (a conversation is text a person reads). */
#define CONV_MAX_FILE_SIZE ((size_t)256 << 20)

enum conv_role { CONV_ROLE_SYSTEM, CONV_ROLE_USER, CONV_ROLE_ASSISTANT };

/* Per-answer statistics, as the engine reports them at the end of an answer. */
struct conv_stats {
	int prompt_tokens;
	int completion_tokens;
	double ttft_ms;             /* time to first token */
	double decode_tps;          /* tokens per second while decoding */
	char finish[16];            /* "stop", "length", "cancel", "context", ... (the engine's name) */
};

struct conv_message {
	enum conv_role role;
	char *content;              /* owned; NUL-terminated valid UTF-8 (invalid bytes become U+FFFD) */
	size_t len;                 /* strlen(content) */
	time_t time;                /* when the message was added (UTC seconds) */
	bool has_stats;             /* stats is meaningful (assistant answers that finished or were cut) */
	struct conv_stats stats;
};

/* All strings are owned by the conversation and may be NULL where noted; change them only through
 * the functions below (or free + xstrdup yourself). */
struct conversation {
	char *path;                 /* file it was loaded from / will be saved to; NULL until first save */
	char *id;                   /* "20261130-150004-k3x9qa": UTC time + random slug; never NULL */
	char *title;                /* never NULL; "" until set */
	time_t created, updated;    /* updated: the last change to a message (not the last save) */
	char *profile;              /* profile name, or NULL */
	enum params_mode mode;
	char *model;                /* model directory or name, or NULL */
	struct params_sampling sampling;
	char *system_prompt;        /* NULL: none */
	char *prefix, *suffix;      /* fim mode: text before and after the hole; NULL when unused */
	struct conv_message *msgs;
	size_t n_msgs, cap_msgs;
	struct conv_disk *disk;     /* private to conv_load/conv_save: path as this process last read or
				     * wrote it, to notice another program saving in between */
};

/* A new empty conversation with a fresh id, created = updated = now, default sampling, chat mode.
 * Nothing is written until conv_save. Never returns NULL. Free with conv_free. */
struct conversation *conv_new(void);
void conv_free(struct conversation *c);

/* Setters: each copies its argument (NULL allowed where the field allows NULL) and frees the old value. */
void conv_set_title(struct conversation *c, const char *title);
void conv_set_profile(struct conversation *c, const char *profile);
void conv_set_model(struct conversation *c, const char *model);
void conv_set_system_prompt(struct conversation *c, const char *text);
void conv_set_fim(struct conversation *c, const char *prefix, const char *suffix);

/* Appends a message (content copied; len bytes, need not be NUL-terminated; invalid UTF-8 replaced by
 * U+FFFD) stamped with the current time; sets updated. Returns the new message, which stays valid
 * until the next call that adds or removes messages. */
struct conv_message *conv_add_message(struct conversation *c, enum conv_role role,
				      const char *content, size_t len);
/* Streaming: replaces (set) or extends (append) the content of the last message; sets updated.
 * A UTF-8 character split across two appends is fine: the content is repaired only at save time for
 * what is still invalid then. Does nothing when there is no message. */
void conv_set_last_content(struct conversation *c, const char *content, size_t len);
void conv_append_last(struct conversation *c, const char *text, size_t len);
/* Attaches stats to the last message. */
void conv_set_last_stats(struct conversation *c, const struct conv_stats *st);
/* Removes count messages starting at index first (regenerate, edit-and-resend, dropping the oldest
 * turns when the context is full). Out-of-range parts are ignored. Sets updated. */
void conv_remove_messages(struct conversation *c, size_t first, size_t count);

/* What conv_save did besides writing c (its return value when it did not fail). */
enum conv_saved {
	CONV_SAVED = 0,             /* c written to c->path */
	CONV_SAVED_MERGED,          /* another program (a second dscoder-tui) had saved to c->path since c was
				     * loaded or last saved: its new messages were merged into c, in order
				     * after the ones both had, before c's own new ones, and the whole written */
	CONV_SAVED_AS_NEW,          /* the same, but the two could not be merged (one side removed or changed
				     * messages): c was saved as a new conversation (new id and path) and the
				     * other program's file left alone */
};

/* Writes c to c->path, or, when c->path is NULL, to <conversations dir>/<id>.yaml (creating the
 * directory 0700) and sets c->path. Atomic (temp + fsync + rename), file mode 0600. Before writing,
 * the YAML is parsed back and compared with c, so a file that would not load back the same is never
 * written. Saves never lose turns another program saved to the same file meanwhile (see enum
 * conv_saved; c then changes, and the UI must redraw it). Returns CONV_SAVED, or CONV_SAVED_MERGED /
 * CONV_SAVED_AS_NEW with one sentence for the user in err, or -1 with one sentence in err; on failure
 * the previous file is untouched. */
int conv_save(struct conversation *c, char *err, size_t errlen);

/* Loads the file at path; the result's path is a copy of path (so conv_save writes back there).
 * Never modifies the file. On error (missing, not YAML, invalid UTF-8, wrong structure, a newer format
 * version) returns NULL with one sentence naming the file and, where known, the line. */
struct conversation *conv_load(const char *path, char *err, size_t errlen);

/* Deletes the file at path. Returns 0, or -1 with err. */
int conv_delete(const char *path, char *err, size_t errlen);
/* Sets the title of the conversation stored at path and saves it (atomic). A corrupted file is left
 * untouched and -1 is returned with the load error in err. */
int conv_rename(const char *path, const char *title, char *err, size_t errlen);

/* Writes the conversation as Markdown to path (atomic, mode 0600): the title as "# title", each
 * message under a "## User" / "## Assistant" / "## System" heading, content verbatim. Returns 0 or -1
 * with err. */
int conv_export_markdown(const struct conversation *c, const char *path, char *err, size_t errlen);

/* One file of the conversations directory, for the list pane. All strings owned by the list. */
struct conv_entry {
	char *path;
	char *id;                   /* file name without ".yaml" */
	char *title;                /* "" for a corrupted file */
	time_t updated;             /* a corrupted file: its mtime */
	size_t n_messages;
	char *error;                /* NULL, or why the file could not be loaded (one sentence) */
	char *search_text;          /* private to conv_search: case-folded title and contents */
};

struct conv_list {
	struct conv_entry *v;
	size_t n;
};

/* Lists dir/<anything>.yaml (dir NULL: the default conversations directory; a missing directory is an
 * empty list), newest `updated` first. Every file is loaded; a file that fails gets an entry with
 * error set and does not stop the others. Temp files of saves that were killed (".ID.yaml.XXXXXX",
 * over an hour old) are removed; nothing else is written. Returns 0 (free with conv_list_free), or -1 with err if dir
 * exists but cannot be read (out is then empty). */
int conv_list(const char *dir, struct conv_list *out, char *err, size_t errlen);
void conv_list_free(struct conv_list *l);
/* Refreshes l from c in memory, without reading any file: replaces the entry whose path is c->path
 * (or adds one) and keeps l sorted. Meant for after each autosave, so the list pane does not re-read
 * every conversation once a second while an answer streams. Does nothing when c->path is NULL. Entry
 * pointers and indexes into l are invalidated. */
void conv_list_update(struct conv_list *l, const struct conversation *c);

/* Case-insensitive (Unicode case folding) substring search over the titles and message contents of
 * the entries of l. Writes the indexes of the matching entries, in list order, to idx (caller supplies
 * room for l->n) and returns their count. An empty text matches every entry; corrupted entries match
 * only by their file name. */
size_t conv_search(const struct conv_list *l, const char *text, size_t *idx);

/* "system", "user", "assistant". Constant strings. */
const char *conv_role_name(enum conv_role r);
/* Formats t as RFC 3339 UTC ("2026-11-30T15:00:04Z") into buf (at least 21 bytes). */
void conv_format_time(time_t t, char *buf, size_t size);

#endif
