// The page's end of the fine-tuning worker link: postMessage through the page's JavaScript
// (web/static/shell.js owns the Worker; its replies come back through main_web.cpp's
// app_fine_tune_worker_* functions).
#pragma once
#include "fine_tune/worker_driver.h"

namespace digitlab {

class WebFineTuneWorkerLink : public FineTuneWorkerLink {
 public:
  bool available() const override;
  bool ready() const override;
  void start(int session, const FineTuneRequest& request) override;
  void cancel(int session) override;
  void stop(int session) override;
};

}  // namespace digitlab
