import pytest


@pytest.fixture(autouse=True)
def _index_sees_every_edit(settings):
    # In production a process looks for catalogue edits at most once a second; tests edit and search
    # within microseconds, so they look every time.
    settings.OMNISHOP_SEARCH_REFRESH_SECONDS = 0


@pytest.fixture(autouse=True)
def _fresh_spelling_vocabulary():
    # A process keeps its title vocabulary for minutes; each test starts from its own catalogue.
    from omnishop.search import spelling

    spelling.forget()
    yield
    spelling.forget()


@pytest.fixture(autouse=True)
def _no_synonyms_kept_after_the_test():
    # A process keeps the synonyms for the refresh interval; a test's synonyms are rolled back with it.
    from omnishop.search import services

    yield
    services._synonyms_cache.clear()
