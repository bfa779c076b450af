import pytest
import yaml

from tigris.errors import SpecError
from tigris.spec import catalog
from tigris.spec.system import load_system, single


def _load(tmp_path, doc):
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_system(path)


def test_system_of_h100_nodes(tmp_path):
    s = _load(
        tmp_path,
        {
            "chip": "h100-sxm",
            "count": 16,
            "scaleup": {"size": 8, "topology": "switch"},
            "scaleout": {"bandwidth": "400 Gb/s", "latency": "5 us"},
        },
    )
    assert s.domains == 2 and s.scaleout.bandwidth_Bps == 50e9 and s.chip.name == "h100-sxm"


def test_torus_needs_dims_that_multiply_to_its_size(tmp_path):
    s = _load(
        tmp_path,
        {
            "chip": "tpu-v5p",
            "count": 64,
            "scaleup": {"size": 64, "topology": "torus3d", "dims": [4, 4, 4]},
        },
    )
    assert s.scaleup.dims == (4, 4, 4)
    with pytest.raises(SpecError, match="multiply"):
        _load(
            tmp_path,
            {
                "chip": "tpu-v5p",
                "count": 64,
                "scaleup": {"size": 64, "topology": "torus3d", "dims": [4, 4, 2]},
            },
        )


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({"chip": "h100-sxm", "count": 12, "scaleup": {"size": 8}}, "multiple"),
        ({"chip": "h100-sxm", "count": 16, "scaleup": {"size": 16}}, "exceeds"),
        ({"chip": "h100-sxmm", "count": 8}, "did you mean"),
        ({"chip": "h100-sxm", "count": 8, "scaleup": {"size": 8, "topology": "mesh"}}, "topology"),
    ],
)
def test_bad_systems_are_clean_errors(tmp_path, doc, words):
    with pytest.raises(SpecError, match=words):
        _load(tmp_path, doc)


def test_single_domain_helper():
    s = single(catalog.chip("b200"), 8)
    assert s.count == 8 and s.scaleup.size == 8
