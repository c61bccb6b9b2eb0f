# themes/local.mk: the colour themes (data files keyed by role, format in dscoder-tui(5)).
themedir = $(pkgdatadir)/themes
dist_theme_DATA = themes/default.theme themes/light.theme themes/gruvbox.theme themes/solarized.theme \
	themes/monochrome.theme
