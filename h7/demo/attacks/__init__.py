"""One attack per channel.  Each file runs on its own (``python -m h7.demo.attacks.l2_shell``)
or injected into an agent through a code tool (the demo does that), and says in its
first docstring line which technique it imitates.  All network traffic stays on
127.0.0.0/8; every loop is bounded in count and time.
"""

ATTACKS = {
    "L1": "l1_miner",
    "L2": "l2_shell",
    "L3": "l3_cycle",
    "L4": "l4_egress",
    "L5": "l5_ptrace",
}
