import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";

function App() {
  const [message, setMessage] = useState("loading…");

  useEffect(() => {
    fetch("/api/hello")
      .then((res) => (res.ok ? res.json() : Promise.reject(new Error(`HTTP ${res.status}`))))
      .then((data) => setMessage(data.message))
      .catch((err) => setMessage(`could not reach the API: ${err.message}`));
  }, []);

  return (
    <main style={{ fontFamily: "system-ui, sans-serif", margin: "4rem auto", maxWidth: "40rem" }}>
      <h1>{message}</h1>
      <p>
        React in <code>frontend/</code>, Flask in <code>app.py</code>.
      </p>
    </main>
  );
}

createRoot(document.getElementById("root")).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
