"""rnnkit from Python, as a notebook would use it: a DataFrame in, a trained model, its figures, an explanation,
a saved file that the small `rnninfer` runtime loads. Run as a script (Tools/test does):

    RNNKIT_DATA=data python Examples/from_python.py [--epochs N]

Reads AG News from $RNNKIT_DATA/agnews (the original CSV: class index, title, description; no header)."""
import os
import pathlib
import sys
import tempfile

import pandas
import rnninfer
import rnnkit

data = pathlib.Path(os.environ.get("RNNKIT_DATA", "data")) / "agnews"
epochs = int(sys.argv[sys.argv.index("--epochs") + 1]) if "--epochs" in sys.argv else 5
classes = (data / "classes.txt").read_text().split("\n")


def news(name):
    frame = pandas.read_csv(data / name, header=None, names=["class", "title", "description"])
    frame["topic"] = [classes[c - 1] for c in frame["class"]]
    return frame


# In [1]: the frames, and Datasets over them (title and description joined, as `prep csv` joins two columns).
train_frame, test_frame = news("train.csv"), news("test.csv")
train = rnnkit.Dataset.from_pandas(train_frame, text=["title", "description"], label="topic")
test = rnnkit.Dataset.from_pandas(test_frame, text=["title", "description"], label="topic")
print(train_frame.shape, test_frame.shape, train_frame["topic"].value_counts().to_dict())

# In [2]: train: the `csv` recipe with 10 % of train held out; the epoch with the best validation macro-F1 is kept.
model = rnnkit.train(train, validation=0.1, recipe="csv", epochs=epochs, seed=1)
history = pandas.DataFrame(model.history)
print(history[["epoch", "trainLoss", "trainAccuracy", "samplesPerSecond"]].to_string(index=False))

# In [3]: the test split, once.
figures = model.evaluate(test)
print(f"test: accuracy {figures['accuracy']:.4f}  macro-F1 {figures['macro_f1']:.4f}  ({figures['examples']} examples)")
print(pandas.DataFrame(figures["per_class"]).set_index("label").round(4).to_string())
print(pandas.DataFrame(figures["confusion"], index=model.classes_, columns=model.classes_).to_string())

# In [4]: why a headline gets its label.
headline = "Stocks fall as oil prices climb to a record high"
print(model.predict([headline])[0], [(token, round(score, 3)) for token, _, _, score in model.explain(headline)])

# In [5]: one file, loaded by the runtime package (the one an application embeds).
with tempfile.TemporaryDirectory() as folder:
    path = pathlib.Path(folder) / "agnews.rnnk"
    model.save(path)
    runtime = rnninfer.Model(path)
    same = (runtime.classify_batch([headline]) == model.predict_proba([headline])).all()
    print(f"saved {path.stat().st_size} bytes; rnninfer gives the same probabilities: {same}")
    assert same and figures["accuracy"] > 0.7, figures["accuracy"]
