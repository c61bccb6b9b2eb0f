# tests/local.mk: shared test helpers; each area adds its own tests from its fragment.
