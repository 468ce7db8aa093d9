import shared


def test_public_surface_is_sorted_and_complete() -> None:
    exported = shared.__all__
    assert exported == sorted(exported, key=lambda name: (not name.isupper(), name))
    for name in exported:
        assert hasattr(shared, name), name
    public = {name for name in vars(shared) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(shared, name)).__name__ == "module"}
    assert public - modules == set(exported)
