// AluMusic curator panel: progressive enhancement only. Every page works without this file; it adds the review
// queue's keyboard shortcuts, "select the whole page" and a confirmation before a bulk change.
(function () {
  "use strict";

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && !/^(radio|checkbox)$/.test(target.type));
  }

  function reviewShortcuts() {
    var form = document.getElementById("form-revisao");
    var item = document.getElementById("item-revisao");
    if (!item) return;
    document.addEventListener("keydown", function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) return;
      var link;
      if (form && /^[1-5]$/.test(event.key)) {
        var radios = form.querySelectorAll("input[type=radio][name=categoria]");
        var radio = radios[Number(event.key) - 1];
        if (radio) { radio.checked = true; radio.focus(); event.preventDefault(); }
      } else if (form && event.key === "Enter" && !/^(A|BUTTON)$/.test(event.target.tagName)) {
        event.preventDefault();
        form.requestSubmit ? form.requestSubmit() : form.submit();
      } else if (event.key === "s" || event.key === "S") {
        link = document.getElementById("pular");
      } else if (event.key === "ArrowRight") {
        link = document.getElementById("proximo");
      } else if (event.key === "ArrowLeft") {
        link = document.getElementById("anterior");
      }
      if (link) { event.preventDefault(); window.location.assign(link.href); }
    });
  }

  function bulkSelection() {
    var all = document.getElementById("marcar-todos");
    var form = document.getElementById("form-lote");
    if (!form) return;
    if (all) {
      all.hidden = false;
      all.addEventListener("change", function () {
        form.querySelectorAll("input.marcar").forEach(function (box) { box.checked = all.checked; });
      });
    }
    form.addEventListener("submit", function (event) {
      var every = document.getElementById("lote-todos");
      var picked = form.querySelectorAll("input.marcar:checked").length;
      if (every && every.checked) return; // the server shows the count and asks for confirmation
      if (picked === 0) {
        event.preventDefault();
        window.alert("Marque pelo menos um comentário (ou \"Todos os que correspondem ao filtro\").");
        return;
      }
      if (!window.confirm("Alterar a categoria de " + picked + " comentário(s)?")) event.preventDefault();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    reviewShortcuts();
    bulkSelection();
  });
})();
