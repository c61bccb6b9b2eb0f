# man/local.mk: the manual pages, installed so `man dscoder-tui` works after make install.
dist_man_MANS += man/dscoder-engine.1
dist_man_MANS += man/dscoder-tui.5
dist_man_MANS += man/dscoder-tui.1
