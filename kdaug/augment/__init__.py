"""What an augmentation is, backend-neutral: op table, JDA policies, view plans; and the
PIL reference implementation (kdaug.augment.reference) used as oracle and CPU baseline."""
from kdaug.augment.policies import OPS, POLICIES, OpStep, Policy, get_policy  # noqa: F401
from kdaug.augment.plan import ViewPlan, eval_plan, train_plan  # noqa: F401
