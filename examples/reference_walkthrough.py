# ruff: noqa: E402  (a notebook: each cell imports what it uses)
# %% [markdown]
# # From the retired reference design to this service
#
# The reference design's how-to guide ("Use the Python interpretability package to explain ML
# models & predictions", azureml-interpret / interpret-community), step by step, on our engine.
# Only the import lines differ from the guide:
#
# | the guide imports from                        | here, from                         |
# |-----------------------------------------------|------------------------------------|
# | `interpret.ext.blackbox`, `interpret.ext.glassbox` | `scoring.compat`              |
# | `azureml.interpret.scoring.scoring_explainer` | `scoring.compat`                   |
# | `azureml.interpret` (`ExplanationClient`)     | `training.explanations`            |
# | `sklearn_pandas` (`DataFrameMapper`)          | `scoring.mapper` (`ColumnMapper`)  |
# | `raiwidgets` (`ExplanationDashboard`)         | `service.dashboard.notebook`       |
#
# MIGRATION.md at the repository root lists every difference.
#
# and, at the end, one call packages the scoring explainer for our service instead of the
# guide's image, deployment configuration and scoring file.
#
# Run it from the repository root: `PYTHONPATH=. .venv/bin/python examples/reference_walkthrough.py`
# (set `BENTOML_HOME` to a scratch folder to keep your model store clean). Cells are marked
# `# %%` for editors that run them one by one. The guide explains every test row; `N_ROWS`
# keeps this quick.

# %%
import os
import tempfile
import warnings

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
warnings.filterwarnings("ignore", category=FutureWarning)  # SVC(probability=True), deprecated in sklearn 1.9

N_ROWS = 10

# %% [markdown]
# ## 1. Train a sample model

# %%
# load breast cancer dataset, a well-known small dataset that comes with scikit-learn
from sklearn import svm
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

breast_cancer_data = load_breast_cancer()
classes = breast_cancer_data.target_names.tolist()
# split data into train and test
x_train, x_test, y_train, y_test = train_test_split(
    breast_cancer_data.data, breast_cancer_data.target, test_size=0.2, random_state=0
)
clf = svm.SVC(gamma=0.001, C=100.0, probability=True)
model = clf.fit(x_train, y_train)
x_test = x_test[:N_ROWS]

# %% [markdown]
# ## 2. Explainers: TabularExplainer, MimicExplainer, PFIExplainer

# %%
from scoring.compat import TabularExplainer

# "features" and "classes" fields are optional
explainer = TabularExplainer(model, x_train, features=breast_cancer_data.feature_names, classes=classes)
# constructing returns at once; the explainer is fitted when first needed (a progress bar shows it)
print("TabularExplainer chose:", explainer.explainer_)

# %%
from scoring.compat import (
    DecisionTreeExplainableModel,  # noqa: F401  (any of the four surrogate families)
    LGBMExplainableModel,
    LinearExplainableModel,  # noqa: F401
    MimicExplainer,
    SGDExplainableModel,  # noqa: F401
)

mimic = MimicExplainer(
    model,
    x_train,
    LGBMExplainableModel,
    augment_data=True,
    max_num_of_augmentations=10,
    features=breast_cancer_data.feature_names,
    classes=classes,
)
# unlike the guide, the surrogate's fidelity is reported, not hidden
print("surrogate R² on held-out rows:", round(mimic.fidelity_, 3), mimic.fidelity_report_)

# %%
from scoring.compat import PFIExplainer

pfi = PFIExplainer(model, features=breast_cancer_data.feature_names, classes=classes)

# %% [markdown]
# ## 3. Explain the entire model behavior (global explanation)

# %%
# you can use the training data or the test data here
global_explanation = explainer.explain_global(x_test)

# sorted feature importance values and feature names
sorted_global_importance_values = global_explanation.get_ranked_global_values()
sorted_global_importance_names = global_explanation.get_ranked_global_names()
print(dict(zip(sorted_global_importance_names[:5], sorted_global_importance_values[:5], strict=True)))

# alternatively, you can print out a dictionary that holds the top K feature names and values
print(global_explanation.get_feature_importance_dict(top_k=5))
print("method:", global_explanation.method, "| space:", global_explanation.space)

# %%
mimic_global = mimic.explain_global(x_test)
print("mimic top 5:", mimic_global.get_ranked_global_names(top_k=5))
# if you used the PFIExplainer in the previous step, use the next line of code instead
pfi_global = pfi.explain_global(x_train, true_labels=y_train)
print("PFI top 5:", pfi_global.get_feature_importance_dict(top_k=5))

# %% [markdown]
# ## 4. Explain an individual prediction (local explanation)

# %%
# get explanation for the first data point in the test set
local_explanation = explainer.explain_local(x_test[0:5])

# sorted feature importance values and feature names
sorted_local_importance_names = local_explanation.get_ranked_local_names()
sorted_local_importance_values = local_explanation.get_ranked_local_values()
# per class, per row: the top 3 features of the first row for "benign"
print(
    list(zip(sorted_local_importance_names[1][0][:3], sorted_local_importance_values[1][0][:3], strict=True))
)
# each row's values add up to its probability minus the expected value
row0 = sum(local_explanation.local_importance_values[1][0]) + local_explanation.expected_values[1]
print("p(benign) of row 0:", round(row0, 6), "model:", round(model.predict_proba(x_test[:1])[0, 1], 6))

# %% [markdown]
# ## 5. Raw feature transformations
#
# The guide's pipeline of imputers, a scaler and a one-hot encoder; the breast-cancer data have no
# categorical column, so one is derived here ("size", from the worst area).

# %%
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

frame = load_breast_cancer(as_frame=True)
raw = frame.data[["mean radius", "mean texture", "worst smoothness"]].copy()
raw["size"] = pd.cut(frame.data["worst area"], [0, 500, 1000, np.inf], labels=["small", "medium", "large"])
raw["size"] = raw["size"].astype(str)
raw_train, raw_test, raw_y_train, raw_y_test = train_test_split(
    raw, frame.target, test_size=0.2, random_state=0
)
numeric_features = ["mean radius", "mean texture", "worst smoothness"]
categorical_features = ["size"]

numeric_transformer = Pipeline(
    steps=[("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())]
)
categorical_transformer = Pipeline(
    steps=[
        ("imputer", SimpleImputer(strategy="constant", fill_value="missing")),
        ("onehot", OneHotEncoder(handle_unknown="ignore")),
    ]
)
preprocessor = ColumnTransformer(
    transformers=[
        ("num", numeric_transformer, numeric_features),
        ("cat", categorical_transformer, categorical_features),
    ]
)
# append classifier to preprocessing pipeline.
# now we have a full prediction pipeline.
raw_clf = Pipeline(steps=[("preprocessor", preprocessor), ("classifier", LogisticRegression(solver="lbfgs"))])
raw_clf.fit(raw_train, raw_y_train)

# clf.steps[-1][1] returns the trained classification model
# pass transformation as an input to create the explanation object
# "features" and "classes" fields are optional
tabular_explainer = TabularExplainer(
    raw_clf.steps[-1][1],
    initialization_examples=raw_train,
    features=list(raw.columns),
    classes=classes,
    transformations=preprocessor,
)
raw_global = tabular_explainer.explain_global(raw_test)
print("raw:", raw_global.get_feature_importance_dict())
engineered = tabular_explainer.explain_global(raw_test, level="engineered")
print("engineered:", engineered.get_feature_importance_dict())

# %%
# the list-of-tuples form, with ColumnMapper in place of sklearn-pandas' DataFrameMapper
from scoring.mapper import ColumnMapper

numeric_transformations = [
    ([f], Pipeline(steps=[("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())]))
    for f in numeric_features
]
categorical_transformations = [
    ([f], OneHotEncoder(handle_unknown="ignore", sparse_output=False)) for f in categorical_features
]
transformations = numeric_transformations + categorical_transformations
tuple_clf = Pipeline(
    steps=[
        ("preprocessor", ColumnMapper(transformations)),
        ("classifier", LogisticRegression(solver="lbfgs")),
    ]
)
tuple_clf.fit(raw_train, raw_y_train)
tuple_explainer = TabularExplainer(
    tuple_clf.steps[-1][1],
    initialization_examples=raw_train,
    classes=classes,
    transformations=transformations,
)
print("tuples, raw:", tuple_explainer.explain_global(raw_test).get_feature_importance_dict())

# %% [markdown]
# ## 6. Interpretability at inference time: a scoring explainer, saved and loaded

# %%
from scoring.compat import KernelScoringExplainer, load, save

# create a lightweight explainer at scoring time
scoring_explainer = KernelScoringExplainer(explainer)
# save it: a verified bundle (JSON + arrays + the model through skops), not a pickle
OUTPUT_DIR = tempfile.mkdtemp(prefix="my_directory-")
print("saved to", save(scoring_explainer, directory=OUTPUT_DIR, exist_ok=True))
# load scoring explainer from disk
scoring_explainer = load(OUTPUT_DIR)
# test scoring explainer locally
preds = scoring_explainer.explain(x_test)
print("local importance values: classes x rows x features =", np.array(preds).shape)
# the scoring explainer is the training-time one: the same values
print("same as explain_local:", np.allclose(preds, explainer.explain_local(x_test).local_importance_values))

# %% [markdown]
# ## 7. Package for the service, and publish the explanation beside it
#
# One call puts the scoring explainer (model, explainer, schema) into the BentoML model store as
# the bundle our service serves; `breast_cancer_svc` is the service's default bundle name.

# %%
import training

# our counterpart of the guide's run: one bundle version in the model store, (tag, folder)
run = training.save_to_store("breast_cancer_svc", scoring_explainer.to_bundle())
tag, _ = run
print("bundle:", tag)
# serve it:  BUNDLE=breast_cancer_svc:latest bentoml serve service.service:ExplainedModel
# (or `make serve`, which trains and serves the default model)

# %%
from training.explanations import ExplanationClient

client = ExplanationClient.from_run(run)
# uploading global model explanation data for storage; multiple explanations can be uploaded
client.upload_model_explanation(global_explanation, comment="global explanation: all features")
# or you can only upload the explanation object with the top k feature info
client.upload_model_explanation(
    global_explanation, top_k=2, comment="global explanation: Only top 2 features"
)
print(client.list_model_explanations())

# later, in another notebook: get model explanation data (a bundle name is its latest version)
client = ExplanationClient.from_run("breast_cancer_svc")
explanation = client.download_model_explanation(comment="global explanation: all features")
# or only get the top k (e.g., 4) most important features with their importance values
explanation = client.download_model_explanation(top_k=4, comment="global explanation: all features")
global_importance_values = explanation.get_ranked_global_values()
global_importance_names = explanation.get_ranked_global_names()
print(f"global importance values: {global_importance_values}")
print(f"global importance names: {global_importance_names}")

# %% [markdown]
# ## 8. The explanations dashboard in the notebook
#
# In Jupyter this shows the dashboard inline (an IFrame on a local 127.0.0.1 server); what-if and
# ICE call `model` in this process. Outside a notebook it prints the address.

# %%
from service.dashboard.notebook import ExplanationDashboard

dashboard = ExplanationDashboard(global_explanation, model, datasetX=x_test, true_y=y_test[:N_ROWS])
dashboard.stop()  # a notebook keeps it running; this script ends here
