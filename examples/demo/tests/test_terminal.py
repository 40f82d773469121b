import pytest


@pytest.mark.requires("colorama>=0.4")
def test_colored_total():
    import colorama

    line = colorama.Fore.GREEN + "17.50" + colorama.Style.RESET_ALL
    assert "17.50" in line
