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


# computed before the profiles existed (see the module docstring), then regenerated when the epochs
# bound within a budget went from 10 to 20 times the estimate (at least 200), and when Noise2Void's
# CPU batch became 128 within budgets that fit 40 of its steps, and when the learning-rate patience
# within a budget lost its cap of 10 epochs (a tenth of the run however many epochs), and when StarDist's
# CPU patch became the published 256 within budgets that fit 250 of its steps; do not edit by hand
EXPECTED = {
    ('stardist', 2, 'cpu', None, 'fields', False, None): ((128, 128), 4, 50, 100, 0.0003, 10, 25, 0.3932, 100, '25e9dfc46c1c'),
    ('stardist', 2, 'cpu', None, 'fields', True, None): ((32, 32), 4, 7, 100, 0.0001, 10, 25, 0.0246, 100, '1a9951988078'),
    ('stardist', 2, 'cpu', None, 'nuclei', False, None): ((128, 128), 4, 50, 100, 0.0003, 10, 25, 0.3932, 100, '0f59b525a311'),
    ('stardist', 2, 'cpu', None, 'nuclei', False, 32): ((128, 128), 4, 50, 100, 0.0003, 10, 25, 0.3932, 100, '6f172774c32c'),
    ('stardist', 2, 'cpu', None, 'narrow, large objects', False, None): ((48, 192), 4, 50, 100, 0.0003, 10, 25, 0.2212, 100, '915e97ab3e9e'),
    ('stardist', 2, 'cpu', None, 'narrow, large objects', True, None): ((32, 32), 4, 7, 100, 0.0001, 10, 25, 0.0246, 100, '1a9951988078'),
    ('stardist', 2, 'cpu', 2, 'fields', False, None): ((128, 128), 4, 11, 400, 0.001, 3, 10, 0.3932, 20, '2e24b39ad550'),
    ('stardist', 2, 'cpu', 2, 'fields', True, None): ((32, 32), 4, 7, 10460, 0.0001, 52, 261, 0.0246, 523, 'd34c1dd5de7c'),
    ('stardist', 2, 'cpu', 2, 'nuclei', False, None): ((128, 128), 4, 11, 400, 0.001, 3, 10, 0.3932, 20, 'ddc354679479'),
    ('stardist', 2, 'cpu', 2, 'narrow, large objects', False, None): ((48, 192), 4, 20, 400, 0.001, 3, 10, 0.2212, 20, 'd24034123f04'),
    ('stardist', 2, 'cpu', 2, 'narrow, large objects', True, None): ((32, 32), 4, 7, 10460, 0.0001, 52, 261, 0.0246, 523, 'd34c1dd5de7c'),
    ('stardist', 2, 'cpu', 10, 'fields', False, None): ((256, 256), 4, 16, 400, 0.001, 3, 10, 1.5729, 20, '59d204d79ecc'),
    ('stardist', 2, 'cpu', 10, 'fields', True, None): ((32, 32), 4, 7, 60680, 0.0001, 303, 1517, 0.0246, 3034, 'e4246a08c970'),
    ('stardist', 2, 'cpu', 10, 'nuclei', False, None): ((256, 256), 4, 16, 400, 0.001, 3, 10, 1.5729, 20, '08b6016cc5ca'),
    ('stardist', 2, 'cpu', 10, 'nuclei', False, 32): ((256, 256), 4, 16, 400, 0.001, 3, 10, 1.5729, 20, 'e3dd6e312b28'),
    ('stardist', 2, 'cpu', 10, 'narrow, large objects', False, None): ((48, 192), 4, 100, 460, 0.0003, 3, 11, 0.2212, 23, '5b574dbd6240'),
    ('stardist', 2, 'cpu', 10, 'narrow, large objects', True, None): ((32, 32), 4, 7, 60680, 0.0001, 303, 1517, 0.0246, 3034, 'e4246a08c970'),
    ('stardist', 2, 'gpu', None, 'fields', False, None): ((256, 256), 4, 100, 100, 0.0003, 10, 25, 0.0786, 100, '5ae3c45f8410'),
    ('stardist', 2, 'gpu', None, 'fields', True, None): ((32, 32), 4, 7, 100, 0.0001, 10, 25, 0.0012, 100, '3dc4befa032a'),
    ('stardist', 2, 'gpu', None, 'nuclei', False, None): ((256, 256), 4, 100, 100, 0.0003, 10, 25, 0.0786, 100, '47ead160d1c1'),
    ('stardist', 2, 'gpu', None, 'nuclei', False, 32): ((256, 256), 4, 100, 100, 0.0003, 10, 25, 0.0786, 100, '38331dc2e7e3'),
    ('stardist', 2, 'gpu', None, 'narrow, large objects', False, None): ((48, 192), 4, 100, 100, 0.0003, 10, 25, 0.0111, 100, 'b7773608f5d2'),
    ('stardist', 2, 'gpu', None, 'narrow, large objects', True, None): ((32, 32), 4, 7, 100, 0.0001, 10, 25, 0.0012, 100, '3dc4befa032a'),
    ('stardist', 2, 'gpu', 2, 'fields', False, None): ((256, 256), 4, 57, 400, 0.0003, 3, 10, 0.0786, 20, 'a26af8ddb740'),
    ('stardist', 2, 'gpu', 2, 'fields', True, None): ((32, 32), 4, 7, 209260, 0.0001, 1046, 5231, 0.0012, 10463, 'bcdfec9a76a7'),
    ('stardist', 2, 'gpu', 2, 'nuclei', False, None): ((256, 256), 4, 57, 400, 0.0003, 3, 10, 0.0786, 20, '68db9792a6fb'),
    ('stardist', 2, 'gpu', 2, 'narrow, large objects', False, None): ((48, 192), 4, 100, 1620, 0.0003, 8, 40, 0.0111, 81, '37f0a7354cd0'),
    ('stardist', 2, 'gpu', 2, 'narrow, large objects', True, None): ((32, 32), 4, 7, 209260, 0.0001, 1046, 5231, 0.0012, 10463, 'bcdfec9a76a7'),
    ('stardist', 2, 'gpu', 10, 'fields', False, None): ((256, 256), 4, 100, 1320, 0.0003, 7, 33, 0.0786, 66, 'd88e91c6e2ab'),
    ('stardist', 2, 'gpu', 10, 'fields', True, None): ((32, 32), 4, 7, 1213720, 0.0001, 6069, 30343, 0.0012, 60686, '2bc0b3e30b4e'),
    ('stardist', 2, 'gpu', 10, 'nuclei', False, None): ((256, 256), 4, 100, 1320, 0.0003, 7, 33, 0.0786, 66, '011240123d21'),
    ('stardist', 2, 'gpu', 10, 'nuclei', False, 32): ((256, 256), 4, 100, 1320, 0.0003, 7, 33, 0.0786, 66, 'dd25a65bee6f'),
    ('stardist', 2, 'gpu', 10, 'narrow, large objects', False, None): ((48, 192), 4, 100, 9440, 0.0003, 47, 236, 0.0111, 472, '2fbfe262449b'),
    ('stardist', 2, 'gpu', 10, 'narrow, large objects', True, None): ((32, 32), 4, 7, 1213720, 0.0001, 6069, 30343, 0.0012, 60686, '2bc0b3e30b4e'),
    ('stardist', 3, 'cpu', None, 'stacks', False, None): ((32, 96, 96), 2, 50, 100, 0.0003, 10, 25, 3.5389, 100, 'b41fb800fab8'),
    ('stardist', 3, 'cpu', None, 'stacks', True, None): ((32, 32, 32), 2, 7, 100, 0.0001, 10, 25, 0.3932, 100, 'aae9f25ba25d'),
    ('stardist', 3, 'cpu', None, 'nuclei', False, None): ((48, 96, 96), 2, 50, 100, 0.0003, 10, 25, 5.3084, 100, '23bed8d52fdc'),
    ('stardist', 3, 'cpu', None, 'nuclei', False, 32): ((48, 96, 96), 2, 50, 100, 0.0003, 10, 25, 5.3084, 100, 'd43eedf859fb'),
    ('stardist', 3, 'cpu', None, 'thin, large objects', False, None): ((16, 48, 144), 2, 50, 100, 0.0003, 10, 25, 1.3271, 100, '1a2635f59f0b'),
    ('stardist', 3, 'cpu', None, 'thin, large objects', True, None): ((32, 32, 32), 2, 7, 100, 0.0001, 10, 25, 0.3932, 100, 'aae9f25ba25d'),
    ('stardist', 3, 'cpu', 2, 'stacks', False, None): ((32, 96, 96), 2, 5, 200, 0.001, 3, 10, 3.5389, 5, '79a4fc91f02c'),
    ('stardist', 3, 'cpu', 2, 'stacks', True, None): ((32, 32, 32), 2, 7, 640, 0.0001, 3, 16, 0.3932, 32, '2f8ceb1bbec9'),
    ('stardist', 3, 'cpu', 2, 'nuclei', False, None): ((48, 96, 96), 2, 5, 200, 0.001, 3, 10, 5.3084, 3, '3343bf3aef8a'),
    ('stardist', 3, 'cpu', 2, 'thin, large objects', False, None): ((16, 48, 144), 2, 5, 260, 0.001, 3, 10, 1.3271, 13, '9bd466acdd63'),
    ('stardist', 3, 'cpu', 2, 'thin, large objects', True, None): ((32, 32, 32), 2, 7, 640, 0.0001, 3, 16, 0.3932, 32, '2f8ceb1bbec9'),
    ('stardist', 3, 'cpu', 10, 'stacks', False, None): ((32, 96, 96), 2, 7, 420, 0.001, 3, 10, 3.5389, 21, '2f7c10c8779b'),
    ('stardist', 3, 'cpu', 10, 'stacks', True, None): ((32, 32, 32), 2, 7, 3780, 0.0001, 19, 94, 0.3932, 189, 'c8d3bfb6871d'),
    ('stardist', 3, 'cpu', 10, 'nuclei', False, None): ((48, 96, 96), 2, 5, 380, 0.001, 3, 10, 5.3084, 19, '30e1dd081f24'),
    ('stardist', 3, 'cpu', 10, 'nuclei', False, 32): ((48, 96, 96), 2, 5, 380, 0.001, 3, 10, 5.3084, 19, '0ab92d8fb5cc'),
    ('stardist', 3, 'cpu', 10, 'thin, large objects', False, None): ((16, 48, 144), 2, 19, 400, 0.001, 3, 10, 1.3271, 20, '39eb04b7dd91'),
    ('stardist', 3, 'cpu', 10, 'thin, large objects', True, None): ((32, 32, 32), 2, 7, 3780, 0.0001, 19, 94, 0.3932, 189, 'c8d3bfb6871d'),
    ('stardist', 3, 'gpu', None, 'stacks', False, None): ((32, 96, 96), 2, 100, 100, 0.0003, 10, 25, 0.1769, 100, '7b451ff7c73d'),
    ('stardist', 3, 'gpu', None, 'stacks', True, None): ((32, 32, 32), 2, 7, 100, 0.0001, 10, 25, 0.0197, 100, 'f913230cf6a8'),
    ('stardist', 3, 'gpu', None, 'nuclei', False, None): ((48, 96, 96), 2, 100, 100, 0.0003, 10, 25, 0.2654, 100, 'ad23e7b31e91'),
    ('stardist', 3, 'gpu', None, 'nuclei', False, 32): ((48, 96, 96), 2, 100, 100, 0.0003, 10, 25, 0.2654, 100, 'e472b4381ed4'),
    ('stardist', 3, 'gpu', None, 'thin, large objects', False, None): ((16, 48, 144), 2, 100, 100, 0.0003, 10, 25, 0.0664, 100, 'a0631a6f8eac'),
    ('stardist', 3, 'gpu', None, 'thin, large objects', True, None): ((32, 32, 32), 2, 7, 100, 0.0001, 10, 25, 0.0197, 100, 'f913230cf6a8'),
    ('stardist', 3, 'gpu', 2, 'stacks', False, None): ((32, 96, 96), 2, 25, 400, 0.001, 3, 10, 0.1769, 20, 'fe871ee9a3ed'),
    ('stardist', 3, 'gpu', 2, 'stacks', True, None): ((32, 32, 32), 2, 7, 13060, 0.0001, 65, 326, 0.0197, 653, 'fb634d045f77'),
    ('stardist', 3, 'gpu', 2, 'nuclei', False, None): ((48, 96, 96), 2, 16, 420, 0.001, 3, 10, 0.2654, 21, '328d19d81a55'),
    ('stardist', 3, 'gpu', 2, 'thin, large objects', False, None): ((16, 48, 144), 2, 67, 400, 0.0003, 3, 10, 0.0664, 20, '86a84d3ac420'),
    ('stardist', 3, 'gpu', 2, 'thin, large objects', True, None): ((32, 32, 32), 2, 7, 13060, 0.0001, 65, 326, 0.0197, 653, 'fb634d045f77'),
    ('stardist', 3, 'gpu', 10, 'stacks', False, None): ((32, 96, 96), 2, 100, 580, 0.0003, 3, 14, 0.1769, 29, 'd7e0f38be4a9'),
    ('stardist', 3, 'gpu', 10, 'stacks', True, None): ((32, 32, 32), 2, 7, 75840, 0.0001, 379, 1896, 0.0197, 3792, '9dcf873acf6c'),
    ('stardist', 3, 'gpu', 10, 'nuclei', False, None): ((48, 96, 96), 2, 98, 400, 0.0003, 3, 10, 0.2654, 20, '9c7e0248b058'),
    ('stardist', 3, 'gpu', 10, 'nuclei', False, 32): ((48, 96, 96), 2, 98, 400, 0.0003, 3, 10, 0.2654, 20, 'eaf18dfbff03'),
    ('stardist', 3, 'gpu', 10, 'thin, large objects', False, None): ((16, 48, 144), 2, 100, 1560, 0.0003, 8, 39, 0.0664, 78, '35d43084aae2'),
    ('stardist', 3, 'gpu', 10, 'thin, large objects', True, None): ((32, 32, 32), 2, 7, 75840, 0.0001, 379, 1896, 0.0197, 3792, '9dcf873acf6c'),
    ('unet', 2, 'cpu', None, 'fields', False, None): ((128, 128), 4, 50, 100, 0.0002, 10, 25, 0.3932, 100, '12486781da92'),
    ('unet', 2, 'cpu', None, 'fields', True, None): ((32, 32), 4, 7, 100, 0.0001, 10, 25, 0.0246, 100, 'd4a4af18b7c1'),
    ('unet', 2, 'cpu', None, 'nuclei', False, None): ((128, 128), 4, 50, 100, 0.0002, 10, 25, 0.3932, 100, 'a4bb13cf70b1'),
    ('unet', 2, 'cpu', None, 'nuclei', False, 32): ((128, 128), 4, 50, 100, 0.0002, 10, 25, 0.3932, 100, 'd874408ab02d'),
    ('unet', 2, 'cpu', None, 'narrow, large objects', False, None): ((48, 192), 4, 50, 100, 0.0002, 10, 25, 0.2212, 100, '55d7e8229ad3'),
    ('unet', 2, 'cpu', None, 'narrow, large objects', True, None): ((32, 32), 4, 7, 100, 0.0001, 10, 25, 0.0246, 100, 'd4a4af18b7c1'),
    ('unet', 2, 'cpu', 2, 'fields', False, None): ((128, 128), 4, 11, 400, 0.0002, 3, 10, 0.3932, 20, '2897c2e479eb'),
    ('unet', 2, 'cpu', 2, 'fields', True, None): ((32, 32), 4, 7, 10460, 0.0001, 52, 261, 0.0246, 523, '10a752d5bbc7'),
    ('unet', 2, 'cpu', 2, 'nuclei', False, None): ((128, 128), 4, 11, 400, 0.0002, 3, 10, 0.3932, 20, '22a50de3035c'),
    ('unet', 2, 'cpu', 2, 'narrow, large objects', False, None): ((48, 192), 4, 20, 400, 0.0002, 3, 10, 0.2212, 20, 'cd368a088af0'),
    ('unet', 2, 'cpu', 2, 'narrow, large objects', True, None): ((32, 32), 4, 7, 10460, 0.0001, 52, 261, 0.0246, 523, '10a752d5bbc7'),
    ('unet', 2, 'cpu', 10, 'fields', False, None): ((128, 128), 4, 66, 400, 0.0002, 3, 10, 0.3932, 20, '5e09caf84b53'),
    ('unet', 2, 'cpu', 10, 'fields', True, None): ((32, 32), 4, 7, 60680, 0.0001, 303, 1517, 0.0246, 3034, '4a7e14216682'),
    ('unet', 2, 'cpu', 10, 'nuclei', False, None): ((128, 128), 4, 66, 400, 0.0002, 3, 10, 0.3932, 20, 'e8514d1f664e'),
    ('unet', 2, 'cpu', 10, 'nuclei', False, 32): ((128, 128), 4, 66, 400, 0.0002, 3, 10, 0.3932, 20, 'a8e7c2404793'),
    ('unet', 2, 'cpu', 10, 'narrow, large objects', False, None): ((48, 192), 4, 100, 460, 0.0002, 3, 11, 0.2212, 23, 'b238ade3af28'),
    ('unet', 2, 'cpu', 10, 'narrow, large objects', True, None): ((32, 32), 4, 7, 60680, 0.0001, 303, 1517, 0.0246, 3034, '4a7e14216682'),
    ('unet', 2, 'gpu', None, 'fields', False, None): ((256, 256), 4, 100, 100, 0.0002, 10, 25, 0.0786, 100, '45f1d088928e'),
    ('unet', 2, 'gpu', None, 'fields', True, None): ((32, 32), 4, 7, 100, 0.0001, 10, 25, 0.0012, 100, '19fabcbf942f'),
    ('unet', 2, 'gpu', None, 'nuclei', False, None): ((256, 256), 4, 100, 100, 0.0002, 10, 25, 0.0786, 100, '0bd9fb1d270a'),
    ('unet', 2, 'gpu', None, 'nuclei', False, 32): ((256, 256), 4, 100, 100, 0.0002, 10, 25, 0.0786, 100, 'bb50939e1ba0'),
    ('unet', 2, 'gpu', None, 'narrow, large objects', False, None): ((48, 192), 4, 100, 100, 0.0002, 10, 25, 0.0111, 100, '47e8e7416069'),
    ('unet', 2, 'gpu', None, 'narrow, large objects', True, None): ((32, 32), 4, 7, 100, 0.0001, 10, 25, 0.0012, 100, '19fabcbf942f'),
    ('unet', 2, 'gpu', 2, 'fields', False, None): ((256, 256), 4, 57, 400, 0.0002, 3, 10, 0.0786, 20, 'ce9e9009dae2'),
    ('unet', 2, 'gpu', 2, 'fields', True, None): ((32, 32), 4, 7, 209260, 0.0001, 1046, 5231, 0.0012, 10463, '46791e6c586f'),
    ('unet', 2, 'gpu', 2, 'nuclei', False, None): ((256, 256), 4, 57, 400, 0.0002, 3, 10, 0.0786, 20, '2bafedda20b7'),
    ('unet', 2, 'gpu', 2, 'narrow, large objects', False, None): ((48, 192), 4, 100, 1620, 0.0002, 8, 40, 0.0111, 81, '00a7cdb6645d'),
    ('unet', 2, 'gpu', 2, 'narrow, large objects', True, None): ((32, 32), 4, 7, 209260, 0.0001, 1046, 5231, 0.0012, 10463, '46791e6c586f'),
    ('unet', 2, 'gpu', 10, 'fields', False, None): ((256, 256), 4, 100, 1320, 0.0002, 7, 33, 0.0786, 66, 'a1557e36c77a'),
    ('unet', 2, 'gpu', 10, 'fields', True, None): ((32, 32), 4, 7, 1213720, 0.0001, 6069, 30343, 0.0012, 60686, '03ac838f4ef9'),
    ('unet', 2, 'gpu', 10, 'nuclei', False, None): ((256, 256), 4, 100, 1320, 0.0002, 7, 33, 0.0786, 66, '1c9c11e4bc12'),
    ('unet', 2, 'gpu', 10, 'nuclei', False, 32): ((256, 256), 4, 100, 1320, 0.0002, 7, 33, 0.0786, 66, '139349d1111a'),
    ('unet', 2, 'gpu', 10, 'narrow, large objects', False, None): ((48, 192), 4, 100, 9440, 0.0002, 47, 236, 0.0111, 472, 'ccf849b9f12a'),
    ('unet', 2, 'gpu', 10, 'narrow, large objects', True, None): ((32, 32), 4, 7, 1213720, 0.0001, 6069, 30343, 0.0012, 60686, '03ac838f4ef9'),
    ('care', 2, 'cpu', None, 'fields', False, None): ((64, 64), 16, 100, 100, 0.0004, 10, 25, 1.9661, 100, '56471f9b2500'),
    ('care', 2, 'cpu', None, 'fields', True, None): ((32, 32), 16, 7, 100, 0.0001, 10, 25, 0.4915, 100, 'd020330c840c'),
    ('care', 2, 'cpu', None, 'nuclei', False, None): ((64, 64), 16, 100, 100, 0.0004, 10, 25, 1.9661, 100, '56471f9b2500'),
    ('care', 2, 'cpu', None, 'nuclei', False, 32): ((64, 64), 16, 100, 100, 0.0004, 10, 25, 1.9661, 100, 'ac24d9b187b9'),
    ('care', 2, 'cpu', None, 'narrow, large objects', False, None): ((56, 64), 16, 100, 100, 0.0004, 10, 25, 1.7203, 100, '55631b77866d'),
    ('care', 2, 'cpu', None, 'narrow, large objects', True, None): ((32, 32), 16, 7, 100, 0.0001, 10, 25, 0.4915, 100, 'd020330c840c'),
    ('care', 2, 'cpu', 2, 'fields', False, None): ((64, 64), 16, 5, 200, 0.0004, 3, 10, 1.9661, 9, '8923acd69720'),
    ('care', 2, 'cpu', 2, 'fields', True, None): ((32, 32), 16, 7, 520, 0.0001, 3, 13, 0.4915, 26, '50dc6b1acae5'),
    ('care', 2, 'cpu', 2, 'nuclei', False, None): ((64, 64), 16, 5, 200, 0.0004, 3, 10, 1.9661, 9, '8923acd69720'),
    ('care', 2, 'cpu', 2, 'narrow, large objects', False, None): ((56, 64), 16, 5, 200, 0.0004, 3, 10, 1.7203, 10, '96b1778ded25'),
    ('care', 2, 'cpu', 2, 'narrow, large objects', True, None): ((32, 32), 16, 7, 520, 0.0001, 3, 13, 0.4915, 26, '50dc6b1acae5'),
    ('care', 2, 'cpu', 10, 'fields', False, None): ((64, 64), 16, 13, 400, 0.0004, 3, 10, 1.9661, 20, 'b7f322d228d2'),
    ('care', 2, 'cpu', 10, 'fields', True, None): ((32, 32), 16, 7, 3020, 0.0001, 15, 75, 0.4915, 151, '49b7b28115df'),
    ('care', 2, 'cpu', 10, 'nuclei', False, None): ((64, 64), 16, 13, 400, 0.0004, 3, 10, 1.9661, 20, 'b7f322d228d2'),
    ('care', 2, 'cpu', 10, 'nuclei', False, 32): ((64, 64), 16, 13, 400, 0.0004, 3, 10, 1.9661, 20, '12797a946f2a'),
    ('care', 2, 'cpu', 10, 'narrow, large objects', False, None): ((56, 64), 16, 15, 400, 0.0004, 3, 10, 1.7203, 20, '6a1f1585c152'),
    ('care', 2, 'cpu', 10, 'narrow, large objects', True, None): ((32, 32), 16, 7, 3020, 0.0001, 15, 75, 0.4915, 151, '49b7b28115df'),
    ('care', 2, 'gpu', None, 'fields', False, None): ((64, 64), 16, 100, 100, 0.0004, 10, 25, 0.0983, 100, 'e02a67aff8f3'),
    ('care', 2, 'gpu', None, 'fields', True, None): ((32, 32), 16, 7, 100, 0.0001, 10, 25, 0.0246, 100, 'cbbe9849ef8a'),
    ('care', 2, 'gpu', None, 'nuclei', False, None): ((64, 64), 16, 100, 100, 0.0004, 10, 25, 0.0983, 100, 'e02a67aff8f3'),
    ('care', 2, 'gpu', None, 'nuclei', False, 32): ((64, 64), 16, 100, 100, 0.0004, 10, 25, 0.0983, 100, '95257a460b44'),
    ('care', 2, 'gpu', None, 'narrow, large objects', False, None): ((56, 64), 16, 100, 100, 0.0004, 10, 25, 0.086, 100, '5cb0ae81fec9'),
    ('care', 2, 'gpu', None, 'narrow, large objects', True, None): ((32, 32), 16, 7, 100, 0.0001, 10, 25, 0.0246, 100, 'cbbe9849ef8a'),
    ('care', 2, 'gpu', 2, 'fields', False, None): ((64, 64), 16, 45, 400, 0.0004, 3, 10, 0.0983, 20, 'ab9d4d8ab829'),
    ('care', 2, 'gpu', 2, 'fields', True, None): ((32, 32), 16, 7, 10460, 0.0001, 52, 261, 0.0246, 523, 'bfd38d4ec2fd'),
    ('care', 2, 'gpu', 2, 'nuclei', False, None): ((64, 64), 16, 45, 400, 0.0004, 3, 10, 0.0983, 20, 'ab9d4d8ab829'),
    ('care', 2, 'gpu', 2, 'narrow, large objects', False, None): ((56, 64), 16, 52, 400, 0.0004, 3, 10, 0.086, 20, '95a683e67331'),
    ('care', 2, 'gpu', 2, 'narrow, large objects', True, None): ((32, 32), 16, 7, 10460, 0.0001, 52, 261, 0.0246, 523, 'bfd38d4ec2fd'),
    ('care', 2, 'gpu', 10, 'fields', False, None): ((64, 64), 16, 100, 1060, 0.0004, 5, 26, 0.0983, 53, '04ff1a96028f'),
    ('care', 2, 'gpu', 10, 'fields', True, None): ((32, 32), 16, 7, 60680, 0.0001, 303, 1517, 0.0246, 3034, 'e44953c1bd3e'),
    ('care', 2, 'gpu', 10, 'nuclei', False, None): ((64, 64), 16, 100, 1060, 0.0004, 5, 26, 0.0983, 53, '04ff1a96028f'),
    ('care', 2, 'gpu', 10, 'nuclei', False, 32): ((64, 64), 16, 100, 1060, 0.0004, 5, 26, 0.0983, 53, 'e6e8e9aa5fa3'),
    ('care', 2, 'gpu', 10, 'narrow, large objects', False, None): ((56, 64), 16, 100, 1200, 0.0004, 6, 30, 0.086, 60, '67ad4abad52f'),
    ('care', 2, 'gpu', 10, 'narrow, large objects', True, None): ((32, 32), 16, 7, 60680, 0.0001, 303, 1517, 0.0246, 3034, 'e44953c1bd3e'),
    ('care', 3, 'cpu', None, 'stacks', False, None): ((16, 64, 64), 16, 100, 100, 0.0004, 10, 25, 31.4573, 100, 'd198e8b89913'),
    ('care', 3, 'cpu', None, 'stacks', True, None): ((32, 32, 32), 16, 7, 100, 0.0001, 10, 25, 15.7286, 100, 'd4195ca66374'),
    ('care', 3, 'cpu', None, 'nuclei', False, None): ((16, 64, 64), 16, 100, 100, 0.0004, 10, 25, 31.4573, 100, 'd198e8b89913'),
    ('care', 3, 'cpu', None, 'nuclei', False, 32): ((16, 64, 64), 16, 100, 100, 0.0004, 10, 25, 31.4573, 100, 'e3e92fa255b5'),
    ('care', 3, 'cpu', None, 'thin, large objects', False, None): ((16, 56, 64), 16, 100, 100, 0.0004, 10, 25, 27.5251, 100, '559fffcfb9a9'),
    ('care', 3, 'cpu', None, 'thin, large objects', True, None): ((32, 32, 32), 16, 7, 100, 0.0001, 10, 25, 15.7286, 100, 'd4195ca66374'),
    ('care', 3, 'cpu', 2, 'stacks', False, None): ((16, 64, 64), 16, 5, 200, 0.0004, 3, 10, 31.4573, 1, '09e641aa325e'),
    ('care', 3, 'cpu', 2, 'stacks', True, None): ((32, 32, 32), 16, 7, 200, 0.0001, 3, 10, 15.7286, 1, 'ef062f8c7f07'),
    ('care', 3, 'cpu', 2, 'nuclei', False, None): ((16, 64, 64), 16, 5, 200, 0.0004, 3, 10, 31.4573, 1, '09e641aa325e'),
    ('care', 3, 'cpu', 2, 'thin, large objects', False, None): ((16, 56, 64), 16, 5, 200, 0.0004, 3, 10, 27.5251, 1, 'a30136987420'),
    ('care', 3, 'cpu', 2, 'thin, large objects', True, None): ((32, 32, 32), 16, 7, 200, 0.0001, 3, 10, 15.7286, 1, 'ef062f8c7f07'),
    ('care', 3, 'cpu', 10, 'stacks', False, None): ((16, 64, 64), 16, 5, 200, 0.0004, 3, 10, 31.4573, 3, '3c3365ae4e74'),
    ('care', 3, 'cpu', 10, 'stacks', True, None): ((32, 32, 32), 16, 7, 200, 0.0001, 3, 10, 15.7286, 4, '659fdbe92add'),
    ('care', 3, 'cpu', 10, 'nuclei', False, None): ((16, 64, 64), 16, 5, 200, 0.0004, 3, 10, 31.4573, 3, '3c3365ae4e74'),
    ('care', 3, 'cpu', 10, 'nuclei', False, 32): ((16, 64, 64), 16, 5, 200, 0.0004, 3, 10, 31.4573, 3, '62ff36353168'),
    ('care', 3, 'cpu', 10, 'thin, large objects', False, None): ((16, 56, 64), 16, 5, 200, 0.0004, 3, 10, 27.5251, 3, '1ceb696195c0'),
    ('care', 3, 'cpu', 10, 'thin, large objects', True, None): ((32, 32, 32), 16, 7, 200, 0.0001, 3, 10, 15.7286, 4, '659fdbe92add'),
    ('care', 3, 'gpu', None, 'stacks', False, None): ((16, 64, 64), 16, 100, 100, 0.0004, 10, 25, 1.5729, 100, '89fe053ed2f7'),
    ('care', 3, 'gpu', None, 'stacks', True, None): ((32, 32, 32), 16, 7, 100, 0.0001, 10, 25, 0.7864, 100, '374ee29d90bb'),
    ('care', 3, 'gpu', None, 'nuclei', False, None): ((16, 64, 64), 16, 100, 100, 0.0004, 10, 25, 1.5729, 100, '89fe053ed2f7'),
    ('care', 3, 'gpu', None, 'nuclei', False, 32): ((16, 64, 64), 16, 100, 100, 0.0004, 10, 25, 1.5729, 100, '862d1e2ce814'),
    ('care', 3, 'gpu', None, 'thin, large objects', False, None): ((16, 56, 64), 16, 100, 100, 0.0004, 10, 25, 1.3763, 100, 'daa0f1649a56'),
    ('care', 3, 'gpu', None, 'thin, large objects', True, None): ((32, 32, 32), 16, 7, 100, 0.0001, 10, 25, 0.7864, 100, '374ee29d90bb'),
    ('care', 3, 'gpu', 2, 'stacks', False, None): ((16, 64, 64), 16, 5, 220, 0.0004, 3, 10, 1.5729, 11, '8a259945d5b1'),
    ('care', 3, 'gpu', 2, 'stacks', True, None): ((32, 32, 32), 16, 7, 320, 0.0001, 3, 10, 0.7864, 16, '99c25c483a9f'),
    ('care', 3, 'gpu', 2, 'nuclei', False, None): ((16, 64, 64), 16, 5, 220, 0.0004, 3, 10, 1.5729, 11, '8a259945d5b1'),
    ('care', 3, 'gpu', 2, 'thin, large objects', False, None): ((16, 56, 64), 16, 5, 260, 0.0004, 3, 10, 1.3763, 13, 'd3671ef3ede0'),
    ('care', 3, 'gpu', 2, 'thin, large objects', True, None): ((32, 32, 32), 16, 7, 320, 0.0001, 3, 10, 0.7864, 16, '99c25c483a9f'),
    ('care', 3, 'gpu', 10, 'stacks', False, None): ((16, 64, 64), 16, 16, 400, 0.0004, 3, 10, 1.5729, 20, '6767f14f8f9a'),
    ('care', 3, 'gpu', 10, 'stacks', True, None): ((32, 32, 32), 16, 7, 1880, 0.0001, 9, 47, 0.7864, 94, 'bfebcf229199'),
    ('care', 3, 'gpu', 10, 'nuclei', False, None): ((16, 64, 64), 16, 16, 400, 0.0004, 3, 10, 1.5729, 20, '6767f14f8f9a'),
    ('care', 3, 'gpu', 10, 'nuclei', False, 32): ((16, 64, 64), 16, 16, 400, 0.0004, 3, 10, 1.5729, 20, 'fba7da7f210a'),
    ('care', 3, 'gpu', 10, 'thin, large objects', False, None): ((16, 56, 64), 16, 18, 420, 0.0004, 3, 10, 1.3763, 21, 'd3e21abf7eac'),
    ('care', 3, 'gpu', 10, 'thin, large objects', True, None): ((32, 32, 32), 16, 7, 1880, 0.0001, 9, 47, 0.7864, 94, 'bfebcf229199'),
    ('n2v', 2, 'cpu', None, 'fields', False, None): ((64, 64), 32, 100, 100, 0.0004, 10, 25, 2.2938, 100, 'a0e7ad2a5231'),
    ('n2v', 2, 'cpu', None, 'fields', True, None): ((32, 32), 32, 7, 100, 0.0001, 10, 25, 0.5734, 100, '0925af6563e6'),
    ('n2v', 2, 'cpu', None, 'nuclei', False, None): ((64, 64), 32, 100, 100, 0.0004, 10, 25, 2.2938, 100, 'a0e7ad2a5231'),
    ('n2v', 2, 'cpu', None, 'nuclei', False, 32): ((64, 64), 32, 100, 100, 0.0004, 10, 25, 2.2938, 100, 'c6ab250fe4e8'),
    ('n2v', 2, 'cpu', None, 'narrow, large objects', False, None): ((56, 56), 32, 100, 100, 0.0004, 10, 25, 1.7562, 100, '33b4982652cc'),
    ('n2v', 2, 'cpu', None, 'narrow, large objects', True, None): ((32, 32), 32, 7, 100, 0.0001, 10, 25, 0.5734, 100, '0925af6563e6'),
    ('n2v', 2, 'cpu', 2, 'fields', False, None): ((64, 64), 32, 5, 200, 0.0004, 3, 10, 2.2938, 7, '0e38324e4a36'),
    ('n2v', 2, 'cpu', 2, 'fields', True, None): ((32, 32), 32, 7, 440, 0.0001, 3, 11, 0.5734, 22, 'd45cbc70fd17'),
    ('n2v', 2, 'cpu', 2, 'nuclei', False, None): ((64, 64), 32, 5, 200, 0.0004, 3, 10, 2.2938, 7, '0e38324e4a36'),
    ('n2v', 2, 'cpu', 2, 'narrow, large objects', False, None): ((56, 56), 32, 5, 200, 0.0004, 3, 10, 1.7562, 10, '5b547e1399ce'),
    ('n2v', 2, 'cpu', 2, 'narrow, large objects', True, None): ((32, 32), 32, 7, 440, 0.0001, 3, 11, 0.5734, 22, 'd45cbc70fd17'),
    ('n2v', 2, 'cpu', 10, 'fields', False, None): ((64, 64), 128, 5, 220, 0.0004, 3, 10, 9.175, 11, 'c83978ab0474'),
    ('n2v', 2, 'cpu', 10, 'fields', True, None): ((32, 32), 128, 7, 640, 0.0001, 3, 16, 2.2938, 32, '43c00fc8699b'),
    ('n2v', 2, 'cpu', 10, 'nuclei', False, None): ((64, 64), 128, 5, 220, 0.0004, 3, 10, 9.175, 11, 'c83978ab0474'),
    ('n2v', 2, 'cpu', 10, 'nuclei', False, 32): ((64, 64), 128, 5, 220, 0.0004, 3, 10, 9.175, 11, 'c1317e992121'),
    ('n2v', 2, 'cpu', 10, 'narrow, large objects', False, None): ((56, 56), 128, 5, 280, 0.0004, 3, 10, 7.0246, 14, '638167b43cbe'),
    ('n2v', 2, 'cpu', 10, 'narrow, large objects', True, None): ((32, 32), 128, 7, 640, 0.0001, 3, 16, 2.2938, 32, '43c00fc8699b'),
    ('n2v', 2, 'gpu', None, 'fields', False, None): ((64, 64), 64, 100, 100, 0.0004, 10, 25, 0.2294, 100, '7cfebc7b5a91'),
    ('n2v', 2, 'gpu', None, 'fields', True, None): ((32, 32), 64, 7, 100, 0.0001, 10, 25, 0.0573, 100, '9725e94eebce'),
    ('n2v', 2, 'gpu', None, 'nuclei', False, None): ((64, 64), 64, 100, 100, 0.0004, 10, 25, 0.2294, 100, '7cfebc7b5a91'),
    ('n2v', 2, 'gpu', None, 'nuclei', False, 32): ((64, 64), 64, 100, 100, 0.0004, 10, 25, 0.2294, 100, '688559e54635'),
    ('n2v', 2, 'gpu', None, 'narrow, large objects', False, None): ((56, 56), 64, 100, 100, 0.0004, 10, 25, 0.1756, 100, 'deff563e0123'),
    ('n2v', 2, 'gpu', None, 'narrow, large objects', True, None): ((32, 32), 64, 7, 100, 0.0001, 10, 25, 0.0573, 100, '9725e94eebce'),
    ('n2v', 2, 'gpu', 2, 'fields', False, None): ((64, 64), 64, 19, 400, 0.0004, 3, 10, 0.2294, 20, '4abe5d280667'),
    ('n2v', 2, 'gpu', 2, 'fields', True, None): ((32, 32), 64, 7, 4480, 0.0001, 22, 112, 0.0573, 224, '8aed6e2868e9'),
    ('n2v', 2, 'gpu', 2, 'nuclei', False, None): ((64, 64), 64, 19, 400, 0.0004, 3, 10, 0.2294, 20, '4abe5d280667'),
    ('n2v', 2, 'gpu', 2, 'narrow, large objects', False, None): ((56, 56), 64, 25, 400, 0.0004, 3, 10, 0.1756, 20, 'a335a72b4fac'),
    ('n2v', 2, 'gpu', 2, 'narrow, large objects', True, None): ((32, 32), 64, 7, 4480, 0.0001, 22, 112, 0.0573, 224, '8aed6e2868e9'),
    ('n2v', 2, 'gpu', 10, 'fields', False, None): ((64, 64), 64, 100, 440, 0.0004, 3, 11, 0.2294, 22, '3057901f1480'),
    ('n2v', 2, 'gpu', 10, 'fields', True, None): ((32, 32), 64, 7, 26000, 0.0001, 130, 650, 0.0573, 1300, 'e38ec90989db'),
    ('n2v', 2, 'gpu', 10, 'nuclei', False, None): ((64, 64), 64, 100, 440, 0.0004, 3, 11, 0.2294, 22, '3057901f1480'),
    ('n2v', 2, 'gpu', 10, 'nuclei', False, 32): ((64, 64), 64, 100, 440, 0.0004, 3, 11, 0.2294, 22, 'aec666226067'),
    ('n2v', 2, 'gpu', 10, 'narrow, large objects', False, None): ((56, 56), 64, 100, 580, 0.0004, 3, 14, 0.1756, 29, '193b4fb5bff6'),
    ('n2v', 2, 'gpu', 10, 'narrow, large objects', True, None): ((32, 32), 64, 7, 26000, 0.0001, 130, 650, 0.0573, 1300, 'e38ec90989db'),
    ('n2v', 3, 'cpu', None, 'stacks', False, None): ((32, 64, 64), 4, 100, 100, 0.0004, 10, 25, 9.175, 100, 'adba6b6e5d1c'),
    ('n2v', 3, 'cpu', None, 'stacks', True, None): ((32, 32, 32), 4, 7, 100, 0.0001, 10, 25, 2.2938, 100, 'ff4244e40041'),
    ('n2v', 3, 'cpu', None, 'nuclei', False, None): ((32, 64, 64), 4, 100, 100, 0.0004, 10, 25, 9.175, 100, 'adba6b6e5d1c'),
    ('n2v', 3, 'cpu', None, 'nuclei', False, 32): ((32, 64, 64), 4, 100, 100, 0.0004, 10, 25, 9.175, 100, 'fa9e53610e76'),
    ('n2v', 3, 'cpu', None, 'thin, large objects', False, None): ((16, 56, 56), 4, 100, 100, 0.0004, 10, 25, 3.5123, 100, 'd246654aedf9'),
    ('n2v', 3, 'cpu', None, 'thin, large objects', True, None): ((32, 32, 32), 4, 7, 100, 0.0001, 10, 25, 2.2938, 100, 'ff4244e40041'),
    ('n2v', 3, 'cpu', 2, 'stacks', False, None): ((32, 64, 64), 4, 5, 200, 0.0004, 3, 10, 9.175, 1, '05acf2262738'),
    ('n2v', 3, 'cpu', 2, 'stacks', True, None): ((32, 32, 32), 4, 7, 200, 0.0001, 3, 10, 2.2938, 5, 'b34c9ac92de9'),
    ('n2v', 3, 'cpu', 2, 'nuclei', False, None): ((32, 64, 64), 4, 5, 200, 0.0004, 3, 10, 9.175, 1, '05acf2262738'),
    ('n2v', 3, 'cpu', 2, 'thin, large objects', False, None): ((16, 56, 56), 4, 5, 200, 0.0004, 3, 10, 3.5123, 5, '6a4bd43fe575'),
    ('n2v', 3, 'cpu', 2, 'thin, large objects', True, None): ((32, 32, 32), 4, 7, 200, 0.0001, 3, 10, 2.2938, 5, 'b34c9ac92de9'),
    ('n2v', 3, 'cpu', 10, 'stacks', False, None): ((32, 64, 64), 4, 5, 220, 0.0004, 3, 10, 9.175, 11, '01dcd1b49c21'),
    ('n2v', 3, 'cpu', 10, 'stacks', True, None): ((32, 32, 32), 4, 7, 640, 0.0001, 3, 16, 2.2938, 32, 'e2e8302ab133'),
    ('n2v', 3, 'cpu', 10, 'nuclei', False, None): ((32, 64, 64), 4, 5, 220, 0.0004, 3, 10, 9.175, 11, '01dcd1b49c21'),
    ('n2v', 3, 'cpu', 10, 'nuclei', False, 32): ((32, 64, 64), 4, 5, 220, 0.0004, 3, 10, 9.175, 11, '8e9cd1daef63'),
    ('n2v', 3, 'cpu', 10, 'thin, large objects', False, None): ((16, 56, 56), 4, 7, 420, 0.0004, 3, 10, 3.5123, 21, '94ed58ef5829'),
    ('n2v', 3, 'cpu', 10, 'thin, large objects', True, None): ((32, 32, 32), 4, 7, 640, 0.0001, 3, 16, 2.2938, 32, 'e2e8302ab133'),
    ('n2v', 3, 'gpu', None, 'stacks', False, None): ((32, 64, 64), 4, 100, 100, 0.0004, 10, 25, 0.4588, 100, 'a6c10f6c2fb6'),
    ('n2v', 3, 'gpu', None, 'stacks', True, None): ((32, 32, 32), 4, 7, 100, 0.0001, 10, 25, 0.1147, 100, '6c62f4b3ca8c'),
    ('n2v', 3, 'gpu', None, 'nuclei', False, None): ((32, 64, 64), 4, 100, 100, 0.0004, 10, 25, 0.4588, 100, 'a6c10f6c2fb6'),
    ('n2v', 3, 'gpu', None, 'nuclei', False, 32): ((32, 64, 64), 4, 100, 100, 0.0004, 10, 25, 0.4588, 100, '50d7027ca57a'),
    ('n2v', 3, 'gpu', None, 'thin, large objects', False, None): ((16, 56, 56), 4, 100, 100, 0.0004, 10, 25, 0.1756, 100, '2114da5bf338'),
    ('n2v', 3, 'gpu', None, 'thin, large objects', True, None): ((32, 32, 32), 4, 7, 100, 0.0001, 10, 25, 0.1147, 100, '6c62f4b3ca8c'),
    ('n2v', 3, 'gpu', 2, 'stacks', False, None): ((32, 64, 64), 4, 9, 420, 0.0004, 3, 10, 0.4588, 21, '14ad1c550c3d'),
    ('n2v', 3, 'gpu', 2, 'stacks', True, None): ((32, 32, 32), 4, 7, 2240, 0.0001, 11, 56, 0.1147, 112, '61afe33cc662'),
    ('n2v', 3, 'gpu', 2, 'nuclei', False, None): ((32, 64, 64), 4, 9, 420, 0.0004, 3, 10, 0.4588, 21, '14ad1c550c3d'),
    ('n2v', 3, 'gpu', 2, 'thin, large objects', False, None): ((16, 56, 56), 4, 25, 400, 0.0004, 3, 10, 0.1756, 20, '158889ed4982'),
    ('n2v', 3, 'gpu', 2, 'thin, large objects', True, None): ((32, 32, 32), 4, 7, 2240, 0.0001, 11, 56, 0.1147, 112, '61afe33cc662'),
    ('n2v', 3, 'gpu', 10, 'stacks', False, None): ((32, 64, 64), 4, 56, 400, 0.0004, 3, 10, 0.4588, 20, 'e6e2c00dc549'),
    ('n2v', 3, 'gpu', 10, 'stacks', True, None): ((32, 32, 32), 4, 7, 13000, 0.0001, 65, 325, 0.1147, 650, '81198d03092a'),
    ('n2v', 3, 'gpu', 10, 'nuclei', False, None): ((32, 64, 64), 4, 56, 400, 0.0004, 3, 10, 0.4588, 20, 'e6e2c00dc549'),
    ('n2v', 3, 'gpu', 10, 'nuclei', False, 32): ((32, 64, 64), 4, 56, 400, 0.0004, 3, 10, 0.4588, 20, '3d47220736b9'),
    ('n2v', 3, 'gpu', 10, 'thin, large objects', False, None): ((16, 56, 56), 4, 100, 580, 0.0004, 3, 14, 0.1756, 29, '4d52a5739f00'),
    ('n2v', 3, 'gpu', 10, 'thin, large objects', True, None): ((32, 32, 32), 4, 7, 13000, 0.0001, 65, 325, 0.1147, 650, '81198d03092a'),
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
