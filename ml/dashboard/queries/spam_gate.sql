-- Spam, the gate's latest decision with its evidence (JSON: checks, and estimates with 95 % intervals).
select
    decided_at,
    challenger_version,
    champion_version,
    promoted,
    reason,
    evidence
from ml.spam_gate_decisions
order by decided_at desc
limit 1
