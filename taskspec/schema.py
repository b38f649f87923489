"""``python -m taskspec.schema > taskspec/schema.json`` regenerates the committed schema."""

import json

from taskspec.parse import spec_json_schema

if __name__ == "__main__":
    print(json.dumps(spec_json_schema(), indent=2, sort_keys=True))
