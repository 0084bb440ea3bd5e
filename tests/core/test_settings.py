"""Production settings: refuse to start without secrets, and `check --deploy` has nothing to say."""

import pytest

from tests.conftest import manage_py

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x7#kQ9!vR2@mZ5$wL8^pT3&nB6*cF1(hJ4)dG0_sY-uE+oI=aK",
    "ALLOWED_HOSTS": "ops.example.com",
}


def without(name: str) -> dict:
    return {key: value for key, value in PRODUCTION.items() if key != name} | {name: ""}


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without(missing):
    env = without(missing)
    result = manage_py("check", env=env)
    assert result.returncode != 0
    assert f"Set the {missing} environment variable" in result.stderr


def test_check_deploy_is_clean_with_production_settings():
    result = manage_py("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_debug_defaults_to_off():
    result = manage_py(
        "shell", "--no-imports", "-c", "from django.conf import settings; print(settings.DEBUG)", env=without("DEBUG")
    )
    assert result.stdout.strip() == "False"
