"""Offline stand-ins for the reference suite's downloaded data sets (no network here).

Same column names and kinds as the originals, synthetic values: tests that compare against
rankings recorded on the real data cannot pass on these and are listed as such.
"""

import zipfile

import numpy as np
import pandas as pd
import sklearn.datasets
from sklearn.utils import Bunch

_read_csv = pd.read_csv


def _housing(*args, **kwargs):
    rng = np.random.default_rng(7)
    n = 1500
    names = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude"]
    X = np.column_stack(
        [
            rng.gamma(4, 1, n),
            rng.integers(1, 52, n),
            rng.gamma(5, 1, n),
            rng.gamma(10, 0.1, n),
            rng.gamma(2, 700, n),
            rng.gamma(3, 1, n),
            rng.uniform(32, 42, n),
            rng.uniform(-124, -114, n),
        ]
    )
    y = 0.4 * X[:, 0] + 0.01 * X[:, 1] - 0.2 * (X[:, 6] - 37) + 0.05 * rng.normal(size=n)
    return Bunch(data=X, target=y, feature_names=names)


def _titanic():
    rng = np.random.default_rng(42)
    n = 600
    sex = rng.choice(["male", "female"], n)
    pclass = rng.choice([1, 2, 3], n)
    age = rng.uniform(1, 70, n)
    age[rng.random(n) < 0.1] = np.nan
    fare = rng.gamma(2, 15, n)
    embarked = rng.choice(["S", "C", "Q"], n)
    survived = ((sex == "female") * 1.5 - 0.4 * pclass + rng.normal(size=n) > 0).astype(int)
    return pd.DataFrame(
        {
            "pclass": pclass,
            "survived": survived,
            "name": [f"p{i}" for i in range(n)],
            "sex": sex,
            "age": age,
            "sibsp": rng.integers(0, 3, n),
            "parch": rng.integers(0, 3, n),
            "ticket": [f"t{i % 97}" for i in range(n)],
            "fare": fare,
            "cabin": rng.choice(["A1", "B2", None], n),
            "embarked": embarked,
            "boat": rng.choice(["1", "2", None], n),
            "body": rng.choice([1.0, np.nan], n),
            "home.dest": rng.choice(["NY", "London", None], n),
        }
    )


def read_csv(path, *args, **kwargs):
    if isinstance(path, str) and path.startswith("http") and "titanic" in path:
        return _titanic()
    return _read_csv(path, *args, **kwargs)


def _zip(url, filename):
    rng = np.random.default_rng(0)
    n = 286
    cancer = pd.DataFrame(rng.integers(0, 10, (n, 10)), columns=["target"] + [f"c{i}" for i in range(9)])
    cancer["target"] = (cancer["c0"] + cancer["c1"] + rng.integers(0, 5, n) > 11).astype(int)
    energy = pd.DataFrame(rng.uniform(0, 10, (768, 11)), columns=[f"X{i}" for i in range(9)] + ["Y1", "Y2"])
    with zipfile.ZipFile(filename, "w") as z:
        z.writestr("datasets.4.27.2021/breast-cancer.train.csv", cancer.to_csv(index=False))
        z.writestr("datasets.4.27.2021/energyefficiency2012_data.train.csv", energy.to_csv(index=False))
    return filename, None


sklearn.datasets.fetch_california_housing = _housing
pd.read_csv = read_csv
import urllib.request  # noqa: E402

urllib.request.urlretrieve = _zip


def _adult(*args, **kwargs):
    rng = np.random.default_rng(3)
    n = 3000
    X = pd.DataFrame(
        {
            "Age": rng.integers(17, 90, n).astype(np.float32),
            "Workclass": rng.integers(0, 8, n),
            "Education-Num": rng.integers(1, 16, n).astype(np.float32),
            "Marital Status": rng.integers(0, 7, n),
            "Occupation": rng.integers(0, 14, n),
            "Relationship": rng.integers(0, 6, n),
            "Race": rng.integers(0, 5, n),
            "Sex": rng.integers(0, 2, n),
            "Capital Gain": (rng.random(n) < 0.1) * rng.gamma(2, 3000, n),
            "Capital Loss": (rng.random(n) < 0.05) * rng.gamma(2, 800, n),
            "Hours per week": rng.integers(1, 99, n).astype(np.float32),
            "Country": rng.integers(0, 41, n),
        }
    )
    z = (
        0.04 * (X["Age"] - 40)
        + 0.3 * (X["Education-Num"] - 10)
        + 0.0003 * X["Capital Gain"]
        + 0.8 * X["Sex"]
        - 1
    )
    y = (z + rng.normal(size=n) > 0).to_numpy()
    return X, y


import shap  # noqa: E402

shap.datasets.adult = _adult
