"""Every family's training plans, pinned: the same for each family, dimensionality, device,
budget and data as when the plan read tables keyed by the family's name.

The expected rows were computed with ``models/budget.py`` of commit b17a898 (``FAMILY_DEFAULTS``,
``CPU_PATCH``, ... keyed by family name), before each family declared its
:class:`~pyfiji_dl.models.budget.TrainingProfile`. A row holds patch, batch, steps, epochs,
learning rate, learning-rate patience, early-stopping patience, estimated step seconds,
expected epochs and a digest of the whole plan (reasons included). A deliberate change of a
profile's value changes rows: ``python tests/test_budget_profiles.py`` prints the table for
the code as it is, to be pasted here with the reason in the commit message.
"""

import hashlib
import json

import pytest

from pyfiji_dl import families
from pyfiji_dl.models.budget import choose_training_plan

# (images, object bounding boxes) per dimensionality: plain fields, nuclei-like objects, and
# images smaller than the patch with objects larger than it
DATA = {
    2: {"fields": ([(256, 256)] * 3, None),
        "nuclei": ([(512, 512), (300, 400)], [(30, 28), (41, 37), (12, 15)]),
        "narrow, large objects": ([(60, 500), (200, 200)], [(100, 150), (20, 20)])},
    3: {"stacks": ([(32, 128, 128)] * 2, None),
        "nuclei": ([(64, 256, 256)], [(10, 20, 20), (14, 30, 26)]),
        "thin, large objects": ([(16, 60, 200)], [(12, 50, 70)])},
}
EXPLICIT = {"patch": (32,), "lr": 1e-4, "steps": 7}
N_CORES = 2


def cases(names_and_ndims):
    """(key, arguments of choose_training_plan after the profile) for each family and dimensionality."""
    for family, ndim in names_and_ndims:
        for device in ("cpu", "gpu"):
            for minutes in (None, 2, 10):
                for case, (shapes, objects) in DATA[ndim].items():
                    for explicit in (None, EXPLICIT) if case != "nuclei" else (None,):
                        for divisor in (None, 32) if case == "nuclei" and minutes != 2 else (None,):
                            key = (family, ndim, device, minutes, case, explicit is not None, divisor)
                            yield key, (device, N_CORES, shapes, objects, minutes, explicit), {"divisor": divisor}


def row(plan) -> tuple:
    digest = hashlib.sha1(json.dumps(plan.as_dict(), sort_keys=True).encode()).hexdigest()[:12]
    return (plan.patch, plan.batch, plan.steps, plan.epochs, plan.lr, plan.reduce_lr["patience"],
            plan.early_stopping_patience, plan.estimated_step_seconds, plan.expected_epochs, digest)


# computed before the profiles existed (see the module docstring); do not edit by hand
EXPECTED = {
    ('stardist', 2, 'cpu', None, 'fields', False, None): ((128, 128), 4, 50, 100, 0.0003, 10, 25, 0.3932, 100, '25e9dfc46c1c'),
    ('stardist', 2, 'cpu', None, 'fields', True, None): ((32, 32), 4, 7, 100, 0.0001, 10, 25, 0.0246, 100, '1a9951988078'),
    ('stardist', 2, 'cpu', None, 'nuclei', False, None): ((128, 128), 4, 50, 100, 0.0003, 10, 25, 0.3932, 100, '0f59b525a311'),
    ('stardist', 2, 'cpu', None, 'nuclei', False, 32): ((128, 128), 4, 50, 100, 0.0003, 10, 25, 0.3932, 100, '6f172774c32c'),
    ('stardist', 2, 'cpu', None, 'narrow, large objects', False, None): ((48, 192), 4, 50, 100, 0.0003, 10, 25, 0.2212, 100, '915e97ab3e9e'),
    ('stardist', 2, 'cpu', None, 'narrow, large objects', True, None): ((32, 32), 4, 7, 100, 0.0001, 10, 25, 0.0246, 100, '1a9951988078'),
    ('stardist', 2, 'cpu', 2, 'fields', False, None): ((128, 128), 4, 11, 200, 0.001, 3, 10, 0.3932, 20, '1afc1e58baf0'),
    ('stardist', 2, 'cpu', 2, 'fields', True, None): ((32, 32), 4, 7, 5230, 0.0001, 10, 261, 0.0246, 523, '04772ad807a6'),
    ('stardist', 2, 'cpu', 2, 'nuclei', False, None): ((128, 128), 4, 11, 200, 0.001, 3, 10, 0.3932, 20, '580a9b1fa718'),
    ('stardist', 2, 'cpu', 2, 'narrow, large objects', False, None): ((48, 192), 4, 20, 200, 0.001, 3, 10, 0.2212, 20, '47c92d60e8b1'),
    ('stardist', 2, 'cpu', 2, 'narrow, large objects', True, None): ((32, 32), 4, 7, 5230, 0.0001, 10, 261, 0.0246, 523, '04772ad807a6'),
    ('stardist', 2, 'cpu', 10, 'fields', False, None): ((128, 128), 4, 66, 200, 0.0003, 3, 10, 0.3932, 20, '4e3b9782beb7'),
    ('stardist', 2, 'cpu', 10, 'fields', True, None): ((32, 32), 4, 7, 30340, 0.0001, 10, 1517, 0.0246, 3034, '59b81ec6ac6e'),
    ('stardist', 2, 'cpu', 10, 'nuclei', False, None): ((128, 128), 4, 66, 200, 0.0003, 3, 10, 0.3932, 20, '722cd553eb25'),
    ('stardist', 2, 'cpu', 10, 'nuclei', False, 32): ((128, 128), 4, 66, 200, 0.0003, 3, 10, 0.3932, 20, 'bbc8788c39b3'),
    ('stardist', 2, 'cpu', 10, 'narrow, large objects', False, None): ((48, 192), 4, 100, 230, 0.0003, 3, 11, 0.2212, 23, '501fd24d444c'),
    ('stardist', 2, 'cpu', 10, 'narrow, large objects', True, None): ((32, 32), 4, 7, 30340, 0.0001, 10, 1517, 0.0246, 3034, '59b81ec6ac6e'),
    ('stardist', 2, 'gpu', None, 'fields', False, None): ((256, 256), 4, 100, 100, 0.0003, 10, 25, 0.0786, 100, '5ae3c45f8410'),
    ('stardist', 2, 'gpu', None, 'fields', True, None): ((32, 32), 4, 7, 100, 0.0001, 10, 25, 0.0012, 100, '3dc4befa032a'),
    ('stardist', 2, 'gpu', None, 'nuclei', False, None): ((256, 256), 4, 100, 100, 0.0003, 10, 25, 0.0786, 100, '47ead160d1c1'),
    ('stardist', 2, 'gpu', None, 'nuclei', False, 32): ((256, 256), 4, 100, 100, 0.0003, 10, 25, 0.0786, 100, '38331dc2e7e3'),
    ('stardist', 2, 'gpu', None, 'narrow, large objects', False, None): ((48, 192), 4, 100, 100, 0.0003, 10, 25, 0.0111, 100, 'b7773608f5d2'),
    ('stardist', 2, 'gpu', None, 'narrow, large objects', True, None): ((32, 32), 4, 7, 100, 0.0001, 10, 25, 0.0012, 100, '3dc4befa032a'),
    ('stardist', 2, 'gpu', 2, 'fields', False, None): ((256, 256), 4, 57, 200, 0.0003, 3, 10, 0.0786, 20, '7444bc24c9fa'),
    ('stardist', 2, 'gpu', 2, 'fields', True, None): ((32, 32), 4, 7, 104630, 0.0001, 10, 5231, 0.0012, 10463, 'd1a6d9aba04c'),
    ('stardist', 2, 'gpu', 2, 'nuclei', False, None): ((256, 256), 4, 57, 200, 0.0003, 3, 10, 0.0786, 20, '2cfd7b215059'),
    ('stardist', 2, 'gpu', 2, 'narrow, large objects', False, None): ((48, 192), 4, 100, 810, 0.0003, 8, 40, 0.0111, 81, '99cc62157a34'),
    ('stardist', 2, 'gpu', 2, 'narrow, large objects', True, None): ((32, 32), 4, 7, 104630, 0.0001, 10, 5231, 0.0012, 10463, 'd1a6d9aba04c'),
    ('stardist', 2, 'gpu', 10, 'fields', False, None): ((256, 256), 4, 100, 660, 0.0003, 7, 33, 0.0786, 66, '32236776d7a8'),
    ('stardist', 2, 'gpu', 10, 'fields', True, None): ((32, 32), 4, 7, 606860, 0.0001, 10, 30343, 0.0012, 60686, '28abe983a4e9'),
    ('stardist', 2, 'gpu', 10, 'nuclei', False, None): ((256, 256), 4, 100, 660, 0.0003, 7, 33, 0.0786, 66, 'ba29350e8c5b'),
    ('stardist', 2, 'gpu', 10, 'nuclei', False, 32): ((256, 256), 4, 100, 660, 0.0003, 7, 33, 0.0786, 66, 'd8b5c7dc10d0'),
    ('stardist', 2, 'gpu', 10, 'narrow, large objects', False, None): ((48, 192), 4, 100, 4720, 0.0003, 10, 236, 0.0111, 472, '94d5eaddd1b4'),
    ('stardist', 2, 'gpu', 10, 'narrow, large objects', True, None): ((32, 32), 4, 7, 606860, 0.0001, 10, 30343, 0.0012, 60686, '28abe983a4e9'),
    ('stardist', 3, 'cpu', None, 'stacks', False, None): ((32, 96, 96), 2, 50, 100, 0.0003, 10, 25, 3.5389, 100, 'b41fb800fab8'),
    ('stardist', 3, 'cpu', None, 'stacks', True, None): ((32, 32, 32), 2, 7, 100, 0.0001, 10, 25, 0.3932, 100, 'aae9f25ba25d'),
    ('stardist', 3, 'cpu', None, 'nuclei', False, None): ((48, 96, 96), 2, 50, 100, 0.0003, 10, 25, 5.3084, 100, '23bed8d52fdc'),
    ('stardist', 3, 'cpu', None, 'nuclei', False, 32): ((48, 96, 96), 2, 50, 100, 0.0003, 10, 25, 5.3084, 100, 'd43eedf859fb'),
    ('stardist', 3, 'cpu', None, 'thin, large objects', False, None): ((16, 48, 144), 2, 50, 100, 0.0003, 10, 25, 1.3271, 100, '1a2635f59f0b'),
    ('stardist', 3, 'cpu', None, 'thin, large objects', True, None): ((32, 32, 32), 2, 7, 100, 0.0001, 10, 25, 0.3932, 100, 'aae9f25ba25d'),
    ('stardist', 3, 'cpu', 2, 'stacks', False, None): ((32, 96, 96), 2, 5, 100, 0.001, 3, 10, 3.5389, 5, '1c9c40b7523a'),
    ('stardist', 3, 'cpu', 2, 'stacks', True, None): ((32, 32, 32), 2, 7, 320, 0.0001, 3, 16, 0.3932, 32, 'b7b80391aed8'),
    ('stardist', 3, 'cpu', 2, 'nuclei', False, None): ((48, 96, 96), 2, 5, 100, 0.001, 3, 10, 5.3084, 3, '6b1f907c4154'),
    ('stardist', 3, 'cpu', 2, 'thin, large objects', False, None): ((16, 48, 144), 2, 5, 130, 0.001, 3, 10, 1.3271, 13, 'd15da556dc96'),
    ('stardist', 3, 'cpu', 2, 'thin, large objects', True, None): ((32, 32, 32), 2, 7, 320, 0.0001, 3, 16, 0.3932, 32, 'b7b80391aed8'),
    ('stardist', 3, 'cpu', 10, 'stacks', False, None): ((32, 96, 96), 2, 7, 210, 0.001, 3, 10, 3.5389, 21, '63575d02dc70'),
    ('stardist', 3, 'cpu', 10, 'stacks', True, None): ((32, 32, 32), 2, 7, 1890, 0.0001, 10, 94, 0.3932, 189, 'b545c9c1b27d'),
    ('stardist', 3, 'cpu', 10, 'nuclei', False, None): ((48, 96, 96), 2, 5, 190, 0.001, 3, 10, 5.3084, 19, 'f706ffcd9172'),
    ('stardist', 3, 'cpu', 10, 'nuclei', False, 32): ((48, 96, 96), 2, 5, 190, 0.001, 3, 10, 5.3084, 19, '5b9d3d40c575'),
    ('stardist', 3, 'cpu', 10, 'thin, large objects', False, None): ((16, 48, 144), 2, 19, 200, 0.001, 3, 10, 1.3271, 20, 'cd0874c5532a'),
    ('stardist', 3, 'cpu', 10, 'thin, large objects', True, None): ((32, 32, 32), 2, 7, 1890, 0.0001, 10, 94, 0.3932, 189, 'b545c9c1b27d'),
    ('stardist', 3, 'gpu', None, 'stacks', False, None): ((32, 96, 96), 2, 100, 100, 0.0003, 10, 25, 0.1769, 100, '7b451ff7c73d'),
    ('stardist', 3, 'gpu', None, 'stacks', True, None): ((32, 32, 32), 2, 7, 100, 0.0001, 10, 25, 0.0197, 100, 'f913230cf6a8'),
    ('stardist', 3, 'gpu', None, 'nuclei', False, None): ((48, 96, 96), 2, 100, 100, 0.0003, 10, 25, 0.2654, 100, 'ad23e7b31e91'),
    ('stardist', 3, 'gpu', None, 'nuclei', False, 32): ((48, 96, 96), 2, 100, 100, 0.0003, 10, 25, 0.2654, 100, 'e472b4381ed4'),
    ('stardist', 3, 'gpu', None, 'thin, large objects', False, None): ((16, 48, 144), 2, 100, 100, 0.0003, 10, 25, 0.0664, 100, 'a0631a6f8eac'),
    ('stardist', 3, 'gpu', None, 'thin, large objects', True, None): ((32, 32, 32), 2, 7, 100, 0.0001, 10, 25, 0.0197, 100, 'f913230cf6a8'),
    ('stardist', 3, 'gpu', 2, 'stacks', False, None): ((32, 96, 96), 2, 25, 200, 0.001, 3, 10, 0.1769, 20, 'f05accd81841'),
    ('stardist', 3, 'gpu', 2, 'stacks', True, None): ((32, 32, 32), 2, 7, 6530, 0.0001, 10, 326, 0.0197, 653, 'f82393af9cf2'),
    ('stardist', 3, 'gpu', 2, 'nuclei', False, None): ((48, 96, 96), 2, 16, 210, 0.001, 3, 10, 0.2654, 21, '0923c83ef884'),
    ('stardist', 3, 'gpu', 2, 'thin, large objects', False, None): ((16, 48, 144), 2, 67, 200, 0.0003, 3, 10, 0.0664, 20, 'f1a4de9cadac'),
    ('stardist', 3, 'gpu', 2, 'thin, large objects', True, None): ((32, 32, 32), 2, 7, 6530, 0.0001, 10, 326, 0.0197, 653, 'f82393af9cf2'),
    ('stardist', 3, 'gpu', 10, 'stacks', False, None): ((32, 96, 96), 2, 100, 290, 0.0003, 3, 14, 0.1769, 29, '0f28cddc041f'),
    ('stardist', 3, 'gpu', 10, 'stacks', True, None): ((32, 32, 32), 2, 7, 37920, 0.0001, 10, 1896, 0.0197, 3792, '7686fc9f2899'),
    ('stardist', 3, 'gpu', 10, 'nuclei', False, None): ((48, 96, 96), 2, 98, 200, 0.0003, 3, 10, 0.2654, 20, 'cac45a3df45e'),
    ('stardist', 3, 'gpu', 10, 'nuclei', False, 32): ((48, 96, 96), 2, 98, 200, 0.0003, 3, 10, 0.2654, 20, '614ab98de35e'),
    ('stardist', 3, 'gpu', 10, 'thin, large objects', False, None): ((16, 48, 144), 2, 100, 780, 0.0003, 8, 39, 0.0664, 78, '2593faefddae'),
    ('stardist', 3, 'gpu', 10, 'thin, large objects', True, None): ((32, 32, 32), 2, 7, 37920, 0.0001, 10, 1896, 0.0197, 3792, '7686fc9f2899'),
    ('unet', 2, 'cpu', None, 'fields', False, None): ((128, 128), 4, 50, 100, 0.0002, 10, 25, 0.3932, 100, '12486781da92'),
    ('unet', 2, 'cpu', None, 'fields', True, None): ((32, 32), 4, 7, 100, 0.0001, 10, 25, 0.0246, 100, 'd4a4af18b7c1'),
    ('unet', 2, 'cpu', None, 'nuclei', False, None): ((128, 128), 4, 50, 100, 0.0002, 10, 25, 0.3932, 100, 'a4bb13cf70b1'),
    ('unet', 2, 'cpu', None, 'nuclei', False, 32): ((128, 128), 4, 50, 100, 0.0002, 10, 25, 0.3932, 100, 'd874408ab02d'),
    ('unet', 2, 'cpu', None, 'narrow, large objects', False, None): ((48, 192), 4, 50, 100, 0.0002, 10, 25, 0.2212, 100, '55d7e8229ad3'),
    ('unet', 2, 'cpu', None, 'narrow, large objects', True, None): ((32, 32), 4, 7, 100, 0.0001, 10, 25, 0.0246, 100, 'd4a4af18b7c1'),
    ('unet', 2, 'cpu', 2, 'fields', False, None): ((128, 128), 4, 11, 200, 0.0002, 3, 10, 0.3932, 20, 'd73b194d77e8'),
    ('unet', 2, 'cpu', 2, 'fields', True, None): ((32, 32), 4, 7, 5230, 0.0001, 10, 261, 0.0246, 523, 'b82ed75e64e8'),
    ('unet', 2, 'cpu', 2, 'nuclei', False, None): ((128, 128), 4, 11, 200, 0.0002, 3, 10, 0.3932, 20, '295e069c2752'),
    ('unet', 2, 'cpu', 2, 'narrow, large objects', False, None): ((48, 192), 4, 20, 200, 0.0002, 3, 10, 0.2212, 20, 'fb1c7344a0e5'),
    ('unet', 2, 'cpu', 2, 'narrow, large objects', True, None): ((32, 32), 4, 7, 5230, 0.0001, 10, 261, 0.0246, 523, 'b82ed75e64e8'),
    ('unet', 2, 'cpu', 10, 'fields', False, None): ((128, 128), 4, 66, 200, 0.0002, 3, 10, 0.3932, 20, 'dc6f8b9c6053'),
    ('unet', 2, 'cpu', 10, 'fields', True, None): ((32, 32), 4, 7, 30340, 0.0001, 10, 1517, 0.0246, 3034, '3cb4e81014f9'),
    ('unet', 2, 'cpu', 10, 'nuclei', False, None): ((128, 128), 4, 66, 200, 0.0002, 3, 10, 0.3932, 20, 'e7e9f66cd5ff'),
    ('unet', 2, 'cpu', 10, 'nuclei', False, 32): ((128, 128), 4, 66, 200, 0.0002, 3, 10, 0.3932, 20, 'eb275a15a08d'),
    ('unet', 2, 'cpu', 10, 'narrow, large objects', False, None): ((48, 192), 4, 100, 230, 0.0002, 3, 11, 0.2212, 23, 'a01cdca9bd00'),
    ('unet', 2, 'cpu', 10, 'narrow, large objects', True, None): ((32, 32), 4, 7, 30340, 0.0001, 10, 1517, 0.0246, 3034, '3cb4e81014f9'),
    ('unet', 2, 'gpu', None, 'fields', False, None): ((256, 256), 4, 100, 100, 0.0002, 10, 25, 0.0786, 100, '45f1d088928e'),
    ('unet', 2, 'gpu', None, 'fields', True, None): ((32, 32), 4, 7, 100, 0.0001, 10, 25, 0.0012, 100, '19fabcbf942f'),
    ('unet', 2, 'gpu', None, 'nuclei', False, None): ((256, 256), 4, 100, 100, 0.0002, 10, 25, 0.0786, 100, '0bd9fb1d270a'),
    ('unet', 2, 'gpu', None, 'nuclei', False, 32): ((256, 256), 4, 100, 100, 0.0002, 10, 25, 0.0786, 100, 'bb50939e1ba0'),
    ('unet', 2, 'gpu', None, 'narrow, large objects', False, None): ((48, 192), 4, 100, 100, 0.0002, 10, 25, 0.0111, 100, '47e8e7416069'),
    ('unet', 2, 'gpu', None, 'narrow, large objects', True, None): ((32, 32), 4, 7, 100, 0.0001, 10, 25, 0.0012, 100, '19fabcbf942f'),
    ('unet', 2, 'gpu', 2, 'fields', False, None): ((256, 256), 4, 57, 200, 0.0002, 3, 10, 0.0786, 20, 'd5b5faabafc1'),
    ('unet', 2, 'gpu', 2, 'fields', True, None): ((32, 32), 4, 7, 104630, 0.0001, 10, 5231, 0.0012, 10463, 'f58f3a16f024'),
    ('unet', 2, 'gpu', 2, 'nuclei', False, None): ((256, 256), 4, 57, 200, 0.0002, 3, 10, 0.0786, 20, '25cb4bdf42ee'),
    ('unet', 2, 'gpu', 2, 'narrow, large objects', False, None): ((48, 192), 4, 100, 810, 0.0002, 8, 40, 0.0111, 81, '3dd56b50c81d'),
    ('unet', 2, 'gpu', 2, 'narrow, large objects', True, None): ((32, 32), 4, 7, 104630, 0.0001, 10, 5231, 0.0012, 10463, 'f58f3a16f024'),
    ('unet', 2, 'gpu', 10, 'fields', False, None): ((256, 256), 4, 100, 660, 0.0002, 7, 33, 0.0786, 66, '38658fe158a8'),
    ('unet', 2, 'gpu', 10, 'fields', True, None): ((32, 32), 4, 7, 606860, 0.0001, 10, 30343, 0.0012, 60686, 'f7b4e66c873c'),
    ('unet', 2, 'gpu', 10, 'nuclei', False, None): ((256, 256), 4, 100, 660, 0.0002, 7, 33, 0.0786, 66, '0014f148b801'),
    ('unet', 2, 'gpu', 10, 'nuclei', False, 32): ((256, 256), 4, 100, 660, 0.0002, 7, 33, 0.0786, 66, '09bc6ed38703'),
    ('unet', 2, 'gpu', 10, 'narrow, large objects', False, None): ((48, 192), 4, 100, 4720, 0.0002, 10, 236, 0.0111, 472, '68cc26b68df6'),
    ('unet', 2, 'gpu', 10, 'narrow, large objects', True, None): ((32, 32), 4, 7, 606860, 0.0001, 10, 30343, 0.0012, 60686, 'f7b4e66c873c'),
    ('care', 2, 'cpu', None, 'fields', False, None): ((64, 64), 16, 100, 100, 0.0004, 10, 25, 1.9661, 100, '56471f9b2500'),
    ('care', 2, 'cpu', None, 'fields', True, None): ((32, 32), 16, 7, 100, 0.0001, 10, 25, 0.4915, 100, 'd020330c840c'),
    ('care', 2, 'cpu', None, 'nuclei', False, None): ((64, 64), 16, 100, 100, 0.0004, 10, 25, 1.9661, 100, '56471f9b2500'),
    ('care', 2, 'cpu', None, 'nuclei', False, 32): ((64, 64), 16, 100, 100, 0.0004, 10, 25, 1.9661, 100, 'ac24d9b187b9'),
    ('care', 2, 'cpu', None, 'narrow, large objects', False, None): ((56, 64), 16, 100, 100, 0.0004, 10, 25, 1.7203, 100, '55631b77866d'),
    ('care', 2, 'cpu', None, 'narrow, large objects', True, None): ((32, 32), 16, 7, 100, 0.0001, 10, 25, 0.4915, 100, 'd020330c840c'),
    ('care', 2, 'cpu', 2, 'fields', False, None): ((64, 64), 16, 5, 100, 0.0004, 3, 10, 1.9661, 9, '240329f88771'),
    ('care', 2, 'cpu', 2, 'fields', True, None): ((32, 32), 16, 7, 260, 0.0001, 3, 13, 0.4915, 26, '2d84441b56ea'),
    ('care', 2, 'cpu', 2, 'nuclei', False, None): ((64, 64), 16, 5, 100, 0.0004, 3, 10, 1.9661, 9, '240329f88771'),
    ('care', 2, 'cpu', 2, 'narrow, large objects', False, None): ((56, 64), 16, 5, 100, 0.0004, 3, 10, 1.7203, 10, 'b7fa0507b0c5'),
    ('care', 2, 'cpu', 2, 'narrow, large objects', True, None): ((32, 32), 16, 7, 260, 0.0001, 3, 13, 0.4915, 26, '2d84441b56ea'),
    ('care', 2, 'cpu', 10, 'fields', False, None): ((64, 64), 16, 13, 200, 0.0004, 3, 10, 1.9661, 20, '4b702c1b2733'),
    ('care', 2, 'cpu', 10, 'fields', True, None): ((32, 32), 16, 7, 1510, 0.0001, 10, 75, 0.4915, 151, '31744375ed10'),
    ('care', 2, 'cpu', 10, 'nuclei', False, None): ((64, 64), 16, 13, 200, 0.0004, 3, 10, 1.9661, 20, '4b702c1b2733'),
    ('care', 2, 'cpu', 10, 'nuclei', False, 32): ((64, 64), 16, 13, 200, 0.0004, 3, 10, 1.9661, 20, '0457a9df7ffe'),
    ('care', 2, 'cpu', 10, 'narrow, large objects', False, None): ((56, 64), 16, 15, 200, 0.0004, 3, 10, 1.7203, 20, 'c626a41e3ddb'),
    ('care', 2, 'cpu', 10, 'narrow, large objects', True, None): ((32, 32), 16, 7, 1510, 0.0001, 10, 75, 0.4915, 151, '31744375ed10'),
    ('care', 2, 'gpu', None, 'fields', False, None): ((64, 64), 16, 100, 100, 0.0004, 10, 25, 0.0983, 100, 'e02a67aff8f3'),
    ('care', 2, 'gpu', None, 'fields', True, None): ((32, 32), 16, 7, 100, 0.0001, 10, 25, 0.0246, 100, 'cbbe9849ef8a'),
    ('care', 2, 'gpu', None, 'nuclei', False, None): ((64, 64), 16, 100, 100, 0.0004, 10, 25, 0.0983, 100, 'e02a67aff8f3'),
    ('care', 2, 'gpu', None, 'nuclei', False, 32): ((64, 64), 16, 100, 100, 0.0004, 10, 25, 0.0983, 100, '95257a460b44'),
    ('care', 2, 'gpu', None, 'narrow, large objects', False, None): ((56, 64), 16, 100, 100, 0.0004, 10, 25, 0.086, 100, '5cb0ae81fec9'),
    ('care', 2, 'gpu', None, 'narrow, large objects', True, None): ((32, 32), 16, 7, 100, 0.0001, 10, 25, 0.0246, 100, 'cbbe9849ef8a'),
    ('care', 2, 'gpu', 2, 'fields', False, None): ((64, 64), 16, 45, 200, 0.0004, 3, 10, 0.0983, 20, 'ba5a1dde8062'),
    ('care', 2, 'gpu', 2, 'fields', True, None): ((32, 32), 16, 7, 5230, 0.0001, 10, 261, 0.0246, 523, 'f61453f9f0a4'),
    ('care', 2, 'gpu', 2, 'nuclei', False, None): ((64, 64), 16, 45, 200, 0.0004, 3, 10, 0.0983, 20, 'ba5a1dde8062'),
    ('care', 2, 'gpu', 2, 'narrow, large objects', False, None): ((56, 64), 16, 52, 200, 0.0004, 3, 10, 0.086, 20, 'd337b538134b'),
    ('care', 2, 'gpu', 2, 'narrow, large objects', True, None): ((32, 32), 16, 7, 5230, 0.0001, 10, 261, 0.0246, 523, 'f61453f9f0a4'),
    ('care', 2, 'gpu', 10, 'fields', False, None): ((64, 64), 16, 100, 530, 0.0004, 5, 26, 0.0983, 53, 'f6e258e9461d'),
    ('care', 2, 'gpu', 10, 'fields', True, None): ((32, 32), 16, 7, 30340, 0.0001, 10, 1517, 0.0246, 3034, '7caa74504632'),
    ('care', 2, 'gpu', 10, 'nuclei', False, None): ((64, 64), 16, 100, 530, 0.0004, 5, 26, 0.0983, 53, 'f6e258e9461d'),
    ('care', 2, 'gpu', 10, 'nuclei', False, 32): ((64, 64), 16, 100, 530, 0.0004, 5, 26, 0.0983, 53, '615cbb9d5e91'),
    ('care', 2, 'gpu', 10, 'narrow, large objects', False, None): ((56, 64), 16, 100, 600, 0.0004, 6, 30, 0.086, 60, '12117b152f94'),
    ('care', 2, 'gpu', 10, 'narrow, large objects', True, None): ((32, 32), 16, 7, 30340, 0.0001, 10, 1517, 0.0246, 3034, '7caa74504632'),
    ('care', 3, 'cpu', None, 'stacks', False, None): ((16, 64, 64), 16, 100, 100, 0.0004, 10, 25, 31.4573, 100, 'd198e8b89913'),
    ('care', 3, 'cpu', None, 'stacks', True, None): ((32, 32, 32), 16, 7, 100, 0.0001, 10, 25, 15.7286, 100, 'd4195ca66374'),
    ('care', 3, 'cpu', None, 'nuclei', False, None): ((16, 64, 64), 16, 100, 100, 0.0004, 10, 25, 31.4573, 100, 'd198e8b89913'),
    ('care', 3, 'cpu', None, 'nuclei', False, 32): ((16, 64, 64), 16, 100, 100, 0.0004, 10, 25, 31.4573, 100, 'e3e92fa255b5'),
    ('care', 3, 'cpu', None, 'thin, large objects', False, None): ((16, 56, 64), 16, 100, 100, 0.0004, 10, 25, 27.5251, 100, '559fffcfb9a9'),
    ('care', 3, 'cpu', None, 'thin, large objects', True, None): ((32, 32, 32), 16, 7, 100, 0.0001, 10, 25, 15.7286, 100, 'd4195ca66374'),
    ('care', 3, 'cpu', 2, 'stacks', False, None): ((16, 64, 64), 16, 5, 100, 0.0004, 3, 10, 31.4573, 1, '9ccc9801259c'),
    ('care', 3, 'cpu', 2, 'stacks', True, None): ((32, 32, 32), 16, 7, 100, 0.0001, 3, 10, 15.7286, 1, '1debf1f8521b'),
    ('care', 3, 'cpu', 2, 'nuclei', False, None): ((16, 64, 64), 16, 5, 100, 0.0004, 3, 10, 31.4573, 1, '9ccc9801259c'),
    ('care', 3, 'cpu', 2, 'thin, large objects', False, None): ((16, 56, 64), 16, 5, 100, 0.0004, 3, 10, 27.5251, 1, '82baa610fce5'),
    ('care', 3, 'cpu', 2, 'thin, large objects', True, None): ((32, 32, 32), 16, 7, 100, 0.0001, 3, 10, 15.7286, 1, '1debf1f8521b'),
    ('care', 3, 'cpu', 10, 'stacks', False, None): ((16, 64, 64), 16, 5, 100, 0.0004, 3, 10, 31.4573, 3, '070454d2646c'),
    ('care', 3, 'cpu', 10, 'stacks', True, None): ((32, 32, 32), 16, 7, 100, 0.0001, 3, 10, 15.7286, 4, 'dc7b2b1eeb5f'),
    ('care', 3, 'cpu', 10, 'nuclei', False, None): ((16, 64, 64), 16, 5, 100, 0.0004, 3, 10, 31.4573, 3, '070454d2646c'),
    ('care', 3, 'cpu', 10, 'nuclei', False, 32): ((16, 64, 64), 16, 5, 100, 0.0004, 3, 10, 31.4573, 3, '8cc059d52180'),
    ('care', 3, 'cpu', 10, 'thin, large objects', False, None): ((16, 56, 64), 16, 5, 100, 0.0004, 3, 10, 27.5251, 3, '63495cf7b43d'),
    ('care', 3, 'cpu', 10, 'thin, large objects', True, None): ((32, 32, 32), 16, 7, 100, 0.0001, 3, 10, 15.7286, 4, 'dc7b2b1eeb5f'),
    ('care', 3, 'gpu', None, 'stacks', False, None): ((16, 64, 64), 16, 100, 100, 0.0004, 10, 25, 1.5729, 100, '89fe053ed2f7'),
    ('care', 3, 'gpu', None, 'stacks', True, None): ((32, 32, 32), 16, 7, 100, 0.0001, 10, 25, 0.7864, 100, '374ee29d90bb'),
    ('care', 3, 'gpu', None, 'nuclei', False, None): ((16, 64, 64), 16, 100, 100, 0.0004, 10, 25, 1.5729, 100, '89fe053ed2f7'),
    ('care', 3, 'gpu', None, 'nuclei', False, 32): ((16, 64, 64), 16, 100, 100, 0.0004, 10, 25, 1.5729, 100, '862d1e2ce814'),
    ('care', 3, 'gpu', None, 'thin, large objects', False, None): ((16, 56, 64), 16, 100, 100, 0.0004, 10, 25, 1.3763, 100, 'daa0f1649a56'),
    ('care', 3, 'gpu', None, 'thin, large objects', True, None): ((32, 32, 32), 16, 7, 100, 0.0001, 10, 25, 0.7864, 100, '374ee29d90bb'),
    ('care', 3, 'gpu', 2, 'stacks', False, None): ((16, 64, 64), 16, 5, 110, 0.0004, 3, 10, 1.5729, 11, '5499c2a6f762'),
    ('care', 3, 'gpu', 2, 'stacks', True, None): ((32, 32, 32), 16, 7, 160, 0.0001, 3, 10, 0.7864, 16, '4baf9c6f4472'),
    ('care', 3, 'gpu', 2, 'nuclei', False, None): ((16, 64, 64), 16, 5, 110, 0.0004, 3, 10, 1.5729, 11, '5499c2a6f762'),
    ('care', 3, 'gpu', 2, 'thin, large objects', False, None): ((16, 56, 64), 16, 5, 130, 0.0004, 3, 10, 1.3763, 13, 'f0f73d2e61a9'),
    ('care', 3, 'gpu', 2, 'thin, large objects', True, None): ((32, 32, 32), 16, 7, 160, 0.0001, 3, 10, 0.7864, 16, '4baf9c6f4472'),
    ('care', 3, 'gpu', 10, 'stacks', False, None): ((16, 64, 64), 16, 16, 200, 0.0004, 3, 10, 1.5729, 20, '86b46d8c2c80'),
    ('care', 3, 'gpu', 10, 'stacks', True, None): ((32, 32, 32), 16, 7, 940, 0.0001, 9, 47, 0.7864, 94, '3adda00e129b'),
    ('care', 3, 'gpu', 10, 'nuclei', False, None): ((16, 64, 64), 16, 16, 200, 0.0004, 3, 10, 1.5729, 20, '86b46d8c2c80'),
    ('care', 3, 'gpu', 10, 'nuclei', False, 32): ((16, 64, 64), 16, 16, 200, 0.0004, 3, 10, 1.5729, 20, 'b95d6448bcf0'),
    ('care', 3, 'gpu', 10, 'thin, large objects', False, None): ((16, 56, 64), 16, 18, 210, 0.0004, 3, 10, 1.3763, 21, 'cedf08ffd34e'),
    ('care', 3, 'gpu', 10, 'thin, large objects', True, None): ((32, 32, 32), 16, 7, 940, 0.0001, 9, 47, 0.7864, 94, '3adda00e129b'),
    ('n2v', 2, 'cpu', None, 'fields', False, None): ((64, 64), 32, 100, 100, 0.0004, 10, 25, 2.2938, 100, 'a0e7ad2a5231'),
    ('n2v', 2, 'cpu', None, 'fields', True, None): ((32, 32), 32, 7, 100, 0.0001, 10, 25, 0.5734, 100, '0925af6563e6'),
    ('n2v', 2, 'cpu', None, 'nuclei', False, None): ((64, 64), 32, 100, 100, 0.0004, 10, 25, 2.2938, 100, 'a0e7ad2a5231'),
    ('n2v', 2, 'cpu', None, 'nuclei', False, 32): ((64, 64), 32, 100, 100, 0.0004, 10, 25, 2.2938, 100, 'c6ab250fe4e8'),
    ('n2v', 2, 'cpu', None, 'narrow, large objects', False, None): ((56, 56), 32, 100, 100, 0.0004, 10, 25, 1.7562, 100, '33b4982652cc'),
    ('n2v', 2, 'cpu', None, 'narrow, large objects', True, None): ((32, 32), 32, 7, 100, 0.0001, 10, 25, 0.5734, 100, '0925af6563e6'),
    ('n2v', 2, 'cpu', 2, 'fields', False, None): ((64, 64), 32, 5, 100, 0.0004, 3, 10, 2.2938, 7, 'dcf66084b7fe'),
    ('n2v', 2, 'cpu', 2, 'fields', True, None): ((32, 32), 32, 7, 220, 0.0001, 3, 11, 0.5734, 22, 'd2f330e3ed29'),
    ('n2v', 2, 'cpu', 2, 'nuclei', False, None): ((64, 64), 32, 5, 100, 0.0004, 3, 10, 2.2938, 7, 'dcf66084b7fe'),
    ('n2v', 2, 'cpu', 2, 'narrow, large objects', False, None): ((56, 56), 32, 5, 100, 0.0004, 3, 10, 1.7562, 10, '17c3c6239bc0'),
    ('n2v', 2, 'cpu', 2, 'narrow, large objects', True, None): ((32, 32), 32, 7, 220, 0.0001, 3, 11, 0.5734, 22, 'd2f330e3ed29'),
    ('n2v', 2, 'cpu', 10, 'fields', False, None): ((64, 64), 32, 11, 200, 0.0004, 3, 10, 2.2938, 20, '3bbefde224dd'),
    ('n2v', 2, 'cpu', 10, 'fields', True, None): ((32, 32), 32, 7, 1300, 0.0001, 10, 65, 0.5734, 130, 'c01dbe9914f2'),
    ('n2v', 2, 'cpu', 10, 'nuclei', False, None): ((64, 64), 32, 11, 200, 0.0004, 3, 10, 2.2938, 20, '3bbefde224dd'),
    ('n2v', 2, 'cpu', 10, 'nuclei', False, 32): ((64, 64), 32, 11, 200, 0.0004, 3, 10, 2.2938, 20, '722fd5be328b'),
    ('n2v', 2, 'cpu', 10, 'narrow, large objects', False, None): ((56, 56), 32, 14, 210, 0.0004, 3, 10, 1.7562, 21, '414eec7a8015'),
    ('n2v', 2, 'cpu', 10, 'narrow, large objects', True, None): ((32, 32), 32, 7, 1300, 0.0001, 10, 65, 0.5734, 130, 'c01dbe9914f2'),
    ('n2v', 2, 'gpu', None, 'fields', False, None): ((64, 64), 64, 100, 100, 0.0004, 10, 25, 0.2294, 100, '7cfebc7b5a91'),
    ('n2v', 2, 'gpu', None, 'fields', True, None): ((32, 32), 64, 7, 100, 0.0001, 10, 25, 0.0573, 100, '9725e94eebce'),
    ('n2v', 2, 'gpu', None, 'nuclei', False, None): ((64, 64), 64, 100, 100, 0.0004, 10, 25, 0.2294, 100, '7cfebc7b5a91'),
    ('n2v', 2, 'gpu', None, 'nuclei', False, 32): ((64, 64), 64, 100, 100, 0.0004, 10, 25, 0.2294, 100, '688559e54635'),
    ('n2v', 2, 'gpu', None, 'narrow, large objects', False, None): ((56, 56), 64, 100, 100, 0.0004, 10, 25, 0.1756, 100, 'deff563e0123'),
    ('n2v', 2, 'gpu', None, 'narrow, large objects', True, None): ((32, 32), 64, 7, 100, 0.0001, 10, 25, 0.0573, 100, '9725e94eebce'),
    ('n2v', 2, 'gpu', 2, 'fields', False, None): ((64, 64), 64, 19, 200, 0.0004, 3, 10, 0.2294, 20, '896be466b3d2'),
    ('n2v', 2, 'gpu', 2, 'fields', True, None): ((32, 32), 64, 7, 2240, 0.0001, 10, 112, 0.0573, 224, '5f305dfa8918'),
    ('n2v', 2, 'gpu', 2, 'nuclei', False, None): ((64, 64), 64, 19, 200, 0.0004, 3, 10, 0.2294, 20, '896be466b3d2'),
    ('n2v', 2, 'gpu', 2, 'narrow, large objects', False, None): ((56, 56), 64, 25, 200, 0.0004, 3, 10, 0.1756, 20, 'fc736c8dbd14'),
    ('n2v', 2, 'gpu', 2, 'narrow, large objects', True, None): ((32, 32), 64, 7, 2240, 0.0001, 10, 112, 0.0573, 224, '5f305dfa8918'),
    ('n2v', 2, 'gpu', 10, 'fields', False, None): ((64, 64), 64, 100, 220, 0.0004, 3, 11, 0.2294, 22, '7bad7d2cce98'),
    ('n2v', 2, 'gpu', 10, 'fields', True, None): ((32, 32), 64, 7, 13000, 0.0001, 10, 650, 0.0573, 1300, '54b3dfbf8af0'),
    ('n2v', 2, 'gpu', 10, 'nuclei', False, None): ((64, 64), 64, 100, 220, 0.0004, 3, 11, 0.2294, 22, '7bad7d2cce98'),
    ('n2v', 2, 'gpu', 10, 'nuclei', False, 32): ((64, 64), 64, 100, 220, 0.0004, 3, 11, 0.2294, 22, 'ffe1711817b9'),
    ('n2v', 2, 'gpu', 10, 'narrow, large objects', False, None): ((56, 56), 64, 100, 290, 0.0004, 3, 14, 0.1756, 29, 'b874d3adf14a'),
    ('n2v', 2, 'gpu', 10, 'narrow, large objects', True, None): ((32, 32), 64, 7, 13000, 0.0001, 10, 650, 0.0573, 1300, '54b3dfbf8af0'),
    ('n2v', 3, 'cpu', None, 'stacks', False, None): ((32, 64, 64), 4, 100, 100, 0.0004, 10, 25, 9.175, 100, 'adba6b6e5d1c'),
    ('n2v', 3, 'cpu', None, 'stacks', True, None): ((32, 32, 32), 4, 7, 100, 0.0001, 10, 25, 2.2938, 100, 'ff4244e40041'),
    ('n2v', 3, 'cpu', None, 'nuclei', False, None): ((32, 64, 64), 4, 100, 100, 0.0004, 10, 25, 9.175, 100, 'adba6b6e5d1c'),
    ('n2v', 3, 'cpu', None, 'nuclei', False, 32): ((32, 64, 64), 4, 100, 100, 0.0004, 10, 25, 9.175, 100, 'fa9e53610e76'),
    ('n2v', 3, 'cpu', None, 'thin, large objects', False, None): ((16, 56, 56), 4, 100, 100, 0.0004, 10, 25, 3.5123, 100, 'd246654aedf9'),
    ('n2v', 3, 'cpu', None, 'thin, large objects', True, None): ((32, 32, 32), 4, 7, 100, 0.0001, 10, 25, 2.2938, 100, 'ff4244e40041'),
    ('n2v', 3, 'cpu', 2, 'stacks', False, None): ((32, 64, 64), 4, 5, 100, 0.0004, 3, 10, 9.175, 1, '5f4dc740b058'),
    ('n2v', 3, 'cpu', 2, 'stacks', True, None): ((32, 32, 32), 4, 7, 100, 0.0001, 3, 10, 2.2938, 5, '11bc620934ad'),
    ('n2v', 3, 'cpu', 2, 'nuclei', False, None): ((32, 64, 64), 4, 5, 100, 0.0004, 3, 10, 9.175, 1, '5f4dc740b058'),
    ('n2v', 3, 'cpu', 2, 'thin, large objects', False, None): ((16, 56, 56), 4, 5, 100, 0.0004, 3, 10, 3.5123, 5, 'e66cdf66306a'),
    ('n2v', 3, 'cpu', 2, 'thin, large objects', True, None): ((32, 32, 32), 4, 7, 100, 0.0001, 3, 10, 2.2938, 5, '11bc620934ad'),
    ('n2v', 3, 'cpu', 10, 'stacks', False, None): ((32, 64, 64), 4, 5, 110, 0.0004, 3, 10, 9.175, 11, '63d3f31025c4'),
    ('n2v', 3, 'cpu', 10, 'stacks', True, None): ((32, 32, 32), 4, 7, 320, 0.0001, 3, 16, 2.2938, 32, 'c6541b53be58'),
    ('n2v', 3, 'cpu', 10, 'nuclei', False, None): ((32, 64, 64), 4, 5, 110, 0.0004, 3, 10, 9.175, 11, '63d3f31025c4'),
    ('n2v', 3, 'cpu', 10, 'nuclei', False, 32): ((32, 64, 64), 4, 5, 110, 0.0004, 3, 10, 9.175, 11, 'f0c6e98a7fce'),
    ('n2v', 3, 'cpu', 10, 'thin, large objects', False, None): ((16, 56, 56), 4, 7, 210, 0.0004, 3, 10, 3.5123, 21, 'e97257a4e9d7'),
    ('n2v', 3, 'cpu', 10, 'thin, large objects', True, None): ((32, 32, 32), 4, 7, 320, 0.0001, 3, 16, 2.2938, 32, 'c6541b53be58'),
    ('n2v', 3, 'gpu', None, 'stacks', False, None): ((32, 64, 64), 4, 100, 100, 0.0004, 10, 25, 0.4588, 100, 'a6c10f6c2fb6'),
    ('n2v', 3, 'gpu', None, 'stacks', True, None): ((32, 32, 32), 4, 7, 100, 0.0001, 10, 25, 0.1147, 100, '6c62f4b3ca8c'),
    ('n2v', 3, 'gpu', None, 'nuclei', False, None): ((32, 64, 64), 4, 100, 100, 0.0004, 10, 25, 0.4588, 100, 'a6c10f6c2fb6'),
    ('n2v', 3, 'gpu', None, 'nuclei', False, 32): ((32, 64, 64), 4, 100, 100, 0.0004, 10, 25, 0.4588, 100, '50d7027ca57a'),
    ('n2v', 3, 'gpu', None, 'thin, large objects', False, None): ((16, 56, 56), 4, 100, 100, 0.0004, 10, 25, 0.1756, 100, '2114da5bf338'),
    ('n2v', 3, 'gpu', None, 'thin, large objects', True, None): ((32, 32, 32), 4, 7, 100, 0.0001, 10, 25, 0.1147, 100, '6c62f4b3ca8c'),
    ('n2v', 3, 'gpu', 2, 'stacks', False, None): ((32, 64, 64), 4, 9, 210, 0.0004, 3, 10, 0.4588, 21, '66a0e0760ee6'),
    ('n2v', 3, 'gpu', 2, 'stacks', True, None): ((32, 32, 32), 4, 7, 1120, 0.0001, 10, 56, 0.1147, 112, '68022631cd41'),
    ('n2v', 3, 'gpu', 2, 'nuclei', False, None): ((32, 64, 64), 4, 9, 210, 0.0004, 3, 10, 0.4588, 21, '66a0e0760ee6'),
    ('n2v', 3, 'gpu', 2, 'thin, large objects', False, None): ((16, 56, 56), 4, 25, 200, 0.0004, 3, 10, 0.1756, 20, '08ea3eeb284c'),
    ('n2v', 3, 'gpu', 2, 'thin, large objects', True, None): ((32, 32, 32), 4, 7, 1120, 0.0001, 10, 56, 0.1147, 112, '68022631cd41'),
    ('n2v', 3, 'gpu', 10, 'stacks', False, None): ((32, 64, 64), 4, 56, 200, 0.0004, 3, 10, 0.4588, 20, '9c33191b5629'),
    ('n2v', 3, 'gpu', 10, 'stacks', True, None): ((32, 32, 32), 4, 7, 6500, 0.0001, 10, 325, 0.1147, 650, 'e9383f9926ca'),
    ('n2v', 3, 'gpu', 10, 'nuclei', False, None): ((32, 64, 64), 4, 56, 200, 0.0004, 3, 10, 0.4588, 20, '9c33191b5629'),
    ('n2v', 3, 'gpu', 10, 'nuclei', False, 32): ((32, 64, 64), 4, 56, 200, 0.0004, 3, 10, 0.4588, 20, 'acf4b251ca4f'),
    ('n2v', 3, 'gpu', 10, 'thin, large objects', False, None): ((16, 56, 56), 4, 100, 290, 0.0004, 3, 14, 0.1756, 29, 'f13f19b22773'),
    ('n2v', 3, 'gpu', 10, 'thin, large objects', True, None): ((32, 32, 32), 4, 7, 6500, 0.0001, 10, 325, 0.1147, 650, 'e9383f9926ca'),
}

PINNED = sorted({(key[0], key[1]) for key in EXPECTED})


def test_the_pinned_table_covers_every_case():
    assert {key for key, _, _ in cases(PINNED)} == set(EXPECTED)


@pytest.mark.parametrize("family, ndim", PINNED)
def test_every_plan_is_the_one_the_family_name_tables_gave(family, ndim):
    profile = families.get(family).training_profile
    different = []
    for key, args, kwargs in cases([(family, ndim)]):
        got = row(choose_training_plan(profile, *args, **kwargs))
        if got != EXPECTED[key]:
            different.append(f"{key}:\n    expected {EXPECTED[key]}\n    got      {got}")
    assert not different, f"{len(different)} plan(s) changed:\n" + "\n".join(different)


if __name__ == "__main__":
    for name, family in families.REGISTRY.items():
        for dims in sorted(family.training_profile.published):
            for key, args, kwargs in cases([(name, dims)]):
                print(f"    {key!r}: {row(choose_training_plan(family.training_profile, *args, **kwargs))!r},")
