"""kdaug's DALI views in a PyTorch Lightning module.

The loader stands where a DataLoader would: Lightning asks for ``len(loader)`` and iterates it
once per epoch; each new pass is a new epoch by itself (new order, new draws), and under DDP
the loader takes its shard from the process group Lightning started. Run:

    python examples/lightning_jda.py        # 2 epochs on the embedded digits, CPU or GPU
"""
import lightning as L
import torch
import torch.nn.functional as F

from kdaug.pipelines import build_loader


class JDAClassifier(L.LightningModule):
    """Cross-entropy on every view: the original and the JDA-augmented ones."""

    def __init__(self, images, labels, num_classes: int, views: int = 2, batch_size: int = 128):
        super().__init__()
        self.images, self.labels, self.views, self.batch_size = images, labels, views, batch_size
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 128),
                                       torch.nn.ReLU(), torch.nn.Linear(128, num_classes))

    def train_dataloader(self):
        # "flat": (B*V, 3, 32, 32) views and (B*V,) labels, image-major
        return build_loader((self.images, self.labels), policy="cifar10", views=self.views,
                            batch_size=self.batch_size, layout="flat", device="auto")

    def training_step(self, batch, batch_idx):
        views, labels = batch
        loss = F.cross_entropy(self.net(views.float()), labels)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)


def main(max_epochs: int = 2, **trainer_args):
    from kdaug.data import load_dataset

    data = load_dataset("digits")
    module = JDAClassifier(data.train.images, data.train.labels, data.num_classes)
    trainer = L.Trainer(max_epochs=max_epochs, logger=False, enable_checkpointing=False,
                        **trainer_args)
    trainer.fit(module)
    return module, trainer


if __name__ == "__main__":
    main()
