import pytest


@pytest.fixture
def large(monkeypatch):
    """Every catalogue ranked as a large one (lists without dense rows) in this test."""
    import training.evaluation
    import training.recommenders

    for module in (training.recommenders, training.evaluation):
        monkeypatch.setattr(module, "is_large", lambda m: m is not None)
