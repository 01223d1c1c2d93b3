"""Round 8 benign act: `npm run build`, `npm run lint`, `npm test` of a package's scripts (offline).

npm runs each script through ``sh -c`` (its script-shell), and the scripts
chain node programs with ``&&``: what any JavaScript project's tooling does.
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
ROUND = 8
BENIGN = True
EXPECT = ()
SCRIPTS = {
    "build": "node build.js && echo built",
    "lint": "node lint.js src",
    "test": "node --test",
}
FILES = {
    "src/index.js": "module.exports = (a, b) => a + b;\n",
    "build.js": "const fs = require('fs'); fs.mkdirSync('dist', { recursive: true });\n"
    "fs.copyFileSync('src/index.js', 'dist/index.js');\n",
    "lint.js": "const fs = require('fs'); for (const f of fs.readdirSync(process.argv[2]))\n"
    "  if (fs.readFileSync(process.argv[2] + '/' + f, 'utf8').includes('\\t')) process.exit(1);\n",
    "index.test.js": "const assert = require('node:assert');\n"
    "require('node:test')('adds', () => assert.strictEqual(require('./dist')(2, 3), 5));\n",
}


def run(args: dict[str, Any]) -> None:
    d = rt.fresh_dir(args["scratch"])
    (d / "src").mkdir()
    (d / "package.json").write_text(json.dumps({"name": "r8-app", "version": "1.0.0", "scripts": SCRIPTS}))
    for name, body in FILES.items():
        (d / name).write_text(body)
    env = {
        **os.environ, "HOME": str(d), "npm_config_offline": "true", "npm_config_update_notifier": "false",
        "npm_config_fund": "false", "npm_config_audit": "false", "npm_config_cache": str(d / ".npm"),
    }  # fmt: skip
    t = rt.now()
    rcs = [
        subprocess.run(["npm", *a], cwd=d, env=env, capture_output=True, timeout=120, check=False).returncode
        for a in (["run", "build"], ["run", "lint"], ["test"])
    ]
    rt.report(t, rcs == [0, 0, 0], f"npm run build / run lint / test: rc {rcs}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
