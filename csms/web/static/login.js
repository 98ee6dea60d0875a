// Sign-in: the API token buys a session cookie; then back to the page that was asked for.
"use strict";
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const reply = await fetch("/session", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({token: form.token.value}),
  });
  if (reply.ok) {
    window.location.assign(form.dataset.next || "/");
  } else {
    document.getElementById("login-error").textContent = "That token is not right.";
    form.token.focus();
  }
});
