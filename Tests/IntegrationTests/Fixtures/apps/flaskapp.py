from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route('/')
def index():
    return 'Hello from Flask'


@app.route('/json/<int:n>')
def as_json(n):
    return jsonify(n=n, doubled=n * 2, args=request.args.to_dict())


@app.route('/form', methods=['POST'])
def form():
    return jsonify(form=request.form.to_dict(), length=request.content_length)


@app.route('/upload', methods=['POST'])
def upload():
    data = request.get_data()
    return jsonify(size=len(data), head=data[:10].decode('latin-1'))
