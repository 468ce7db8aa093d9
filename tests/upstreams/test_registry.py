"""Registering an upstream from outside this repository: a real (tiny) distribution on
sys.path, with an ``entry_points.txt`` in its metadata, found by the registry."""

from pathlib import Path

import pytest

from upstreams.registry import BUILTIN, ENTRY_POINT_GROUP, registered_upstreams

LOYALTY = """
from pydantic import BaseModel

from shared import Operation, UpstreamSpec


class Points(BaseModel):
    balance: int


GET_POINTS = Operation(
    upstream="loyalty", name="get_points", method="GET", path="/users/{user_id}/points",
    response=Points, idempotent=True,
)
SPEC = UpstreamSpec(
    name="{name}",
    description="Loyalty points (another team's package)",
    operations=(GET_POINTS,),
    local_regions={{"eu-west-1": "http://127.0.0.1:9191"}},
    standin_module="loyalty_client.standin",
)
NOT_A_SPEC = "loyalty"
"""


def install(site: Path, package: str, entry_points: str, name: str = "loyalty") -> None:
    """What ``pip install --target site`` leaves: the package and its dist-info."""
    (site / package).mkdir()
    (site / package / "__init__.py").write_text(LOYALTY.replace("{name}", name).replace("{{", "{").replace("}}", "}"))
    info = site / f"{package}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_points}\n")


def test_an_installed_package_registers_its_upstream_by_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(tmp_path, "loyalty_client", "loyalty = loyalty_client:SPEC")
    monkeypatch.syspath_prepend(str(tmp_path))
    specs = registered_upstreams()
    assert [spec.name for spec in specs] == [*(spec.name for spec in BUILTIN), "loyalty"]
    assert specs[-1].operation("get_points").path == "/users/{user_id}/points"


def test_without_the_package_only_the_builtin_upstreams_are_registered() -> None:
    assert registered_upstreams() == BUILTIN


def test_an_entry_point_that_is_not_a_spec_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(tmp_path, "loyalty_broken", "loyalty = loyalty_broken:NOT_A_SPEC")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TypeError, match="loyalty_broken:NOT_A_SPEC is not an UpstreamSpec"):
        registered_upstreams()


def test_an_entry_point_reusing_a_builtin_name_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(tmp_path, "catalog_again", "catalog = catalog_again:SPEC", name="catalog")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="'catalog' is registered twice"):
        registered_upstreams()
