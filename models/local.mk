# models/local.mk: the bundled demo model (installed for the engine's default), its golden ids, and the
# scripts that train it and check the PyTorch reference against the fixtures (run by hand, not by make).

demomodeldir = $(pkgdatadir)/models/dscoder-demo
dist_demomodel_DATA = \
	models/dscoder-demo/config.json \
	models/dscoder-demo/tokenizer.json \
	models/dscoder-demo/tokenizer_config.json \
	models/dscoder-demo/model.safetensors

# golden/: greedy ids from tools/ds2_model.py for the prompts of tools/demo_data.py (tests only).
EXTRA_DIST += models/dscoder-demo/golden

EXTRA_DIST += \
	tools/ds2_model.py \
	tools/train_bpe.py \
	tools/demo_data.py \
	tools/train_demo.py \
	tools/check_fixtures.py

TESTS += tests/demo-model.sh tests/ds2-reference.sh
dist_check_SCRIPTS += tests/demo-model.sh tests/ds2-reference.sh
EXTRA_DIST += models/README.md tests/demo_followup.py
