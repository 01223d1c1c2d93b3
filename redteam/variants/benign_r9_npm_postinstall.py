"""Round 9 benign act: `npm install` (offline) of a local package whose postinstall script builds a file.

Package managers run lifecycle scripts: npm runs ``postinstall`` through its
script shell (``sh -c 'node scripts/gen.js'``) as part of an ordinary install,
here of a workspace package from a local directory (``file:`` dependency), no
network.  Round 4 installed a package with no scripts.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from redteam import rt

GAP = -1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 9
BENIGN = True
EXPECT = ()
GEN = "const fs = require('fs'); fs.writeFileSync('generated.json', JSON.stringify({ built: true }));\n"


def run(args: dict[str, Any]) -> None:
    d = rt.fresh_dir(args["scratch"])
    lib, app = d / "lib", d / "app"
    (lib / "scripts").mkdir(parents=True)
    app.mkdir()
    (lib / "package.json").write_text(
        json.dumps(
            {
                "name": "r9-lib",
                "version": "1.0.0",
                "main": "index.js",
                "scripts": {"postinstall": "node scripts/gen.js"},
            }
        )
    )
    (lib / "index.js").write_text("module.exports = () => require('./generated.json').built;\n")
    (lib / "scripts" / "gen.js").write_text(GEN)
    (app / "package.json").write_text(
        json.dumps({"name": "r9-app", "version": "1.0.0", "dependencies": {"r9-lib": "file:../lib"}})
    )
    env = {
        **os.environ, "HOME": str(d), "npm_config_offline": "true", "npm_config_update_notifier": "false",
        "npm_config_fund": "false", "npm_config_audit": "false", "npm_config_cache": str(d / ".npm"),
        "npm_config_install_links": "true",
    }  # fmt: skip
    t = rt.now()
    rc = rt.run_child(["npm", "install", "--silent"], timeout=120, cwd=app, env=env)
    r = subprocess.run(
        ["node", "-e", "process.stdout.write(String(require('r9-lib')()))"],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    rt.report(
        t, rc == 0 and r.stdout == "true", f"npm install (postinstall ran): rc {rc}, lib says {r.stdout!r}"
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
