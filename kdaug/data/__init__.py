"""Dataset sources: CIFAR-10/100 pickles, ImageNet-style class folders, the embedded digits,
synthetic arrays; few-shot subsets; checks of class-folder datasets for GPU decoding."""
from kdaug.data.check import check_dataset
from kdaug.data.few_shot import few_shot
from kdaug.data.registry import list_datasets, load_dataset
from kdaug.data.source import Dataset, Split
from kdaug.data.synthetic import synthetic_split

__all__ = ["Dataset", "Split", "load_dataset", "list_datasets", "few_shot", "check_dataset",
           "synthetic_split"]
