#!/usr/bin/env python3
"""A dynamic inventory script (Ansible runs it with --list)."""
import json
import sys

if "--list" in sys.argv:
    print(json.dumps({
        "storage": {"hosts": ["pool02.example.com", "pool03.example.com"],
                    "vars": {"se_external_interface": "ens5"}},
        "_meta": {"hostvars": {"pool03.example.com": {"se_kind": "disk", "se_os": "el9"},
                               "pool02.example.com": {"se_kind": "disk"}}},
    }))
else:
    print(json.dumps({}))
