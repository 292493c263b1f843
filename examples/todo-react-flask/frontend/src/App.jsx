import { useEffect, useState } from "react";

async function api(path, options = {}) {
  const res = await fetch(`/api${path}`, {
    ...options,
    headers: { "Content-Type": "application/json", ...options.headers },
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
  return data;
}

export default function App() {
  const [todos, setTodos] = useState([]);
  const [title, setTitle] = useState("");
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState(null);

  useEffect(() => {
    api("/todos")
      .then(setTodos)
      .catch((err) => setError(err.message))
      .finally(() => setLoading(false));
  }, []);

  async function addTodo(event) {
    event.preventDefault();
    const text = title.trim();
    if (!text) return;
    try {
      const todo = await api("/todos", { method: "POST", body: JSON.stringify({ title: text }) });
      setTodos((list) => [...list, todo]);
      setTitle("");
      setError(null);
    } catch (err) {
      setError(err.message);
    }
  }

  async function toggle(id) {
    try {
      const updated = await api(`/todos/${id}`, { method: "PATCH", body: "{}" });
      setTodos((list) => list.map((t) => (t.id === id ? updated : t)));
      setError(null);
    } catch (err) {
      setError(err.message);
    }
  }

  const left = todos.filter((t) => !t.done).length;

  return (
    <main>
      <h1>Todos</h1>
      <form onSubmit={addTodo}>
        <input
          value={title}
          onChange={(e) => setTitle(e.target.value)}
          placeholder="What needs doing?"
          maxLength={200}
          aria-label="New todo"
          autoFocus
        />
        <button type="submit" disabled={!title.trim()}>
          Add
        </button>
      </form>
      {error && <p className="error">{error}</p>}
      {loading ? (
        <p className="muted">Loading…</p>
      ) : todos.length === 0 ? (
        <p className="muted">Nothing to do yet.</p>
      ) : (
        <ul>
          {todos.map((todo) => (
            <li key={todo.id} className={todo.done ? "done" : ""}>
              <label>
                <input type="checkbox" checked={todo.done} onChange={() => toggle(todo.id)} />
                <span>{todo.title}</span>
              </label>
            </li>
          ))}
        </ul>
      )}
      {todos.length > 0 && (
        <p className="muted">
          {left} of {todos.length} left
        </p>
      )}
    </main>
  );
}
