"""skce's settings: get_config, set_config, config_context and the old names."""

import threading

import pytest

import skce
from skce._config import get_data_budget


@pytest.fixture(autouse=True)
def _default_budget():
    yield
    skce.set_config(data_budget=None)


def _in_thread(function):
    result = {}
    thread = threading.Thread(target=lambda: result.update(value=function()))
    thread.start()
    thread.join()
    return result["value"]


def test_config_context_is_local_to_the_calling_thread():
    """A config_context holds in its own thread only, and ends with the block."""
    with skce.config_context(data_budget=1000):
        assert skce.get_config()["data_budget"] == 1000
        assert _in_thread(lambda: skce.get_config()["data_budget"]) is None
    assert skce.get_config()["data_budget"] is None


def test_set_config_holds_in_every_thread():
    """set_config changes the value every thread sees, as set_data_budget did."""
    skce.set_config(data_budget=2048)
    assert _in_thread(get_data_budget) == 2048
    skce.set_data_budget(4096)
    assert skce.get_config() == {"data_budget": 4096}
    with skce.data_budget(10):
        assert get_data_budget() == 10
    assert get_data_budget() == 4096


def test_set_config_inside_a_context_applies_until_the_block_ends():
    """As in scikit-learn, set_config within a block is seen until it ends."""
    with skce.config_context(data_budget=5):
        skce.set_config(data_budget=7)
        assert get_data_budget() == 7
    assert get_data_budget() == 7


@pytest.mark.parametrize("bad", [0, -5, 1.5, "1GB", True])
def test_bad_budgets_are_rejected(bad):
    """A budget that is not a positive whole number of bytes is a ValueError."""
    with pytest.raises(ValueError, match="positive number of bytes"):
        skce.set_config(data_budget=bad)
    with pytest.raises(ValueError, match="positive number of bytes"):
        with skce.config_context(data_budget=bad):
            pass
    assert get_data_budget() is None
