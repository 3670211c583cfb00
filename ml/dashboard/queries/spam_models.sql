-- Spam, the registered model versions with their aliases (champion, challenger, previous).
select
    versions.model_version,
    versions.feature_version,
    versions.model_family,
    versions.trained_at,
    versions.train_start,
    versions.train_end,
    versions.threshold,
    versions.test_pr_auc,
    versions.test_precision,
    versions.test_recall,
    coalesce(string_agg(aliases.alias, ', ' order by aliases.alias), '') as aliases
from ml.spam_model_versions as versions
left join ml.spam_model_aliases as aliases on versions.model_version = aliases.model_version
group by all
order by versions.model_version
