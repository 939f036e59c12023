"""check_int / check_number: one rule for every module's arguments (bool is
not a number), and messages that name the owner, the argument, the allowed
range and the value."""
import re
from fractions import Fraction

import numpy as np
import pytest
import torch

from mmcaps.utils.validation import check_int, check_number


def raises_exactly(message):
    """pytest.raises(ValueError) matching ``message`` in full."""
    return pytest.raises(ValueError, match=f'^{re.escape(message)}$')


@pytest.mark.parametrize('value', [1, 7, 10**12, np.int64(3), np.int8(1),
                                   np.uint16(5)])
def test_check_int_accepts_python_and_numpy_integers(value):
    out = check_int('CapsuleLayer', 'in_capsules', value)
    assert out == int(value) and type(out) is int


@pytest.mark.parametrize('value', [True, False, np.bool_(True), 3.0, 1.5,
                                   '3', None, torch.tensor(3),
                                   np.float64(2.0), Fraction(4, 1)])
def test_check_int_refuses_bools_and_non_integers(value):
    with raises_exactly(
            f'CapsuleLayer: in_capsules must be a positive integer, got '
            f'{value!r}'):
        check_int('CapsuleLayer', 'in_capsules', value)


def test_check_int_example_message():
    # The message of the docstring, word for word.
    with raises_exactly(
            'CapsuleLayer: in_capsules must be a positive integer, got 0'):
        check_int('CapsuleLayer', 'in_capsules', 0)


@pytest.mark.parametrize('minimum,maximum,good,bad,text', [
    (1, None, [1, 2], [0, -3], 'a positive integer'),
    (0, None, [0, 5], [-1], 'a non-negative integer'),
    (2, None, [2, 100], [1, 0], 'an integer >= 2'),
    (-3, None, [-3, 0], [-4], 'an integer >= -3'),
    (None, 3, [3, -50], [4], 'an integer <= 3'),
    (None, None, [-10**9, 0, 10**9], [], 'an integer'),
    (1, 4, [1, 4], [0, 5], 'an integer in [1, 4]'),
    (0, 0, [0], [-1, 1], 'an integer in [0, 0]'),
])
def test_check_int_ranges_and_messages(minimum, maximum, good, bad, text):
    for value in good:
        assert check_int('O', 'n', value, minimum, maximum) == value
    # The bounds are inclusive; True is refused even where 1 is allowed.
    for value in bad + [True]:
        with raises_exactly(f'O: n must be {text}, got {value!r}'):
            check_int('O', 'n', value, minimum=minimum, maximum=maximum)


@pytest.mark.parametrize('value', [0.5, 1, np.float32(0.25), np.int64(2),
                                   Fraction(1, 3), 1e-300])
def test_check_number_accepts_reals(value):
    out = check_number('O', 'x', value, minimum=0, strict_minimum=True)
    assert out == float(value) and type(out) is float


@pytest.mark.parametrize('value', [True, False, np.bool_(False),
                                   float('nan'), float('inf'),
                                   -float('inf'), np.float32('nan'), '0.5',
                                   None, 1j, torch.tensor(0.5)])
def test_check_number_refuses_bools_non_finite_and_non_reals(value):
    # Without bounds: any finite real, so the rule alone refuses these.
    with raises_exactly(f'O: x must be a finite number, got {value!r}'):
        check_number('O', 'x', value)


def test_check_number_example_message():
    with raises_exactly('EM routing: eps must be a number in (0, 1), got 0'):
        check_number('EM routing', 'eps', 0, minimum=0, maximum=1,
                     strict_minimum=True, strict_maximum=True)


@pytest.mark.parametrize('bounds,good,bad,text', [
    (dict(minimum=0, maximum=1, strict_minimum=True, strict_maximum=True),
     [1e-12, 0.5, 1 - 1e-12], [0, 1, -0.1, 1.5], 'a number in (0, 1)'),
    (dict(minimum=0, maximum=1, strict_maximum=True),
     [0, 0.95], [1, 1.0, -1e-9], 'a number in [0, 1)'),
    (dict(minimum=0, maximum=1), [0, 1], [-0.5, 1.01], 'a number in [0, 1]'),
    (dict(minimum=0, maximum=1, strict_minimum=True),
     [1, 1e-9], [0, 2], 'a number in (0, 1]'),
    (dict(minimum=0, strict_minimum=True), [1e-9, 1e9], [0, -1],
     'a positive number'),
    (dict(minimum=0), [0, 3], [-1e-9], 'a non-negative number'),
    (dict(minimum=2, strict_minimum=True), [2.5], [2, 1], 'a number > 2'),
    (dict(minimum=2), [2, 3], [1.9], 'a number >= 2'),
    (dict(maximum=1, strict_maximum=True), [0.99, -5], [1, 2],
     'a number < 1'),
    (dict(maximum=1), [1, -5], [1.01], 'a number <= 1'),
])
def test_check_number_ranges_and_messages(bounds, good, bad, text):
    for value in good:
        assert check_number('O', 'x', value, **bounds) == value
    for value in bad + [True, float('nan')]:
        with raises_exactly(f'O: x must be {text}, got {value!r}'):
            check_number('O', 'x', value, **bounds)


def test_modules_share_the_rule():
    # The same bool rule in every module that checks its arguments.
    from mmcaps.models import (CapsuleLayer, DigitCapsHead, DynamicRouting,
                               EMRouting, PrimaryCaps)
    for build, name in [
        (lambda: CapsuleLayer(True, 8, 10, 16), 'in_capsules'),
        (lambda: PrimaryCaps(256, num_types=True), 'num_types'),
        (lambda: DynamicRouting(4, 2, 3, num_iterations=True),
         'num_iterations'),
        (lambda: EMRouting(4, 2, 3, num_iterations=True), 'num_iterations'),
        (lambda: DigitCapsHead(4, 12, num_predictions=True),
         'num_predictions'),
    ]:
        with pytest.raises(ValueError,
                           match=f'{name} must be .*, got True$'):
            build()
    with pytest.raises(ValueError, match=re.escape(
            'EM routing: eps must be a number in (0, 1), got True')):
        EMRouting(4, 2, 3, eps=True)
    with pytest.raises(ValueError, match=re.escape(
            'CapsuleLayer: init_std must be a positive number, got True')):
        CapsuleLayer(4, 2, 3, 2, init_std=True)
